"""The scene generator's golds are exact: every box, count and relation is checked against the
pixels of the saved image (connected components of each pure palette colour), and GUI boxes read
from chromium's DOM against the screenshot's pixels."""
import numpy as np
import pytest
from scipy import ndimage

from mmrl.scenes import build, draw, gui
from mmrl.scenes.items import SHAPE_SKILLS, make_item

SHAPE_ONLY = [s for s in SHAPE_SKILLS if s not in ("number", "word")]


def components(image, rgb):
    """Boxes (x1, y1, x2 exclusive, y2 exclusive) of the 8-connected regions of exactly `rgb`."""
    mask = np.all(np.asarray(image) == np.array(rgb, dtype=np.uint8), axis=-1)
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    return sorted((s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(labels))


def drawn(item):
    ps = [draw.Placement(*s) for s in item.spec["shapes"]]
    return draw.render(ps, item.spec["bg"], item.spec["pattern"])[1]


@pytest.mark.parametrize("skill", SHAPE_ONLY)
def test_each_shape_is_one_component_of_its_colour_with_exactly_its_box(skill):
    for index in range(12):
        item = make_item("train", 0, index, skill)
        shapes = drawn(item)
        for name, rgb in draw.COLOURS.items():
            assert components(item.image, rgb) == sorted(s.box for s in shapes if s.colour == name), (item.id, name)
        for rgb in draw.BACKGROUNDS.values():  # no shape colour is a background colour
            assert rgb not in draw.COLOURS.values()


def test_count_gold_is_the_number_of_drawn_shapes_of_the_kind():
    seen = set()
    for index in range(30):
        item = make_item("train", 0, index, "count")
        shapes = drawn(item)
        kind = item.spec["kind"]
        assert int(item.gold) == sum(s.kind == kind for s in shapes)
        total = sum(len(components(item.image, rgb)) for rgb in draw.COLOURS.values())
        assert total == len(shapes)  # nothing merged, nothing hidden
        seen.add(int(item.gold))
    assert seen == set(range(6))  # counts 0..5 all occur


def test_grounding_gold_is_the_pixel_box_of_the_named_shape():
    for index in range(12):
        item = make_item("train", 0, index, "ground")
        colour, kind = item.answer.split()
        target = [s for s in drawn(item) if (s.colour, s.kind) == (colour, kind)]
        assert len(target) == 1  # the name is unambiguous
        assert tuple(item.gold["bbox"]) in components(item.image, draw.COLOURS[colour])
        assert item.gold["bbox"] == list(target[0].box) and item.gold["image_size"] == list(item.image.size)


def test_position_gold_agrees_with_the_pixel_centres():
    for index in range(12):
        item = make_item("train", 0, index, "position")
        first, second = drawn(item)
        (a,), (b,) = components(item.image, draw.COLOURS[first.colour]), components(item.image, draw.COLOURS[second.colour])
        dx, dy = (a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2
        want = ("left" if dx < 0 else "right") if abs(dx) > abs(dy) else ("above" if dy < 0 else "below")
        assert item.answer == want and item.choices["ABCD".index(item.gold)] == want


def test_size_and_colour_golds_name_the_drawn_shape():
    for index in range(12):
        item = make_item("train", 0, index, "size")
        big = max(drawn(item)[:2], key=lambda s: (s.box[2] - s.box[0]))
        assert item.answer == big.colour and item.choices["ABCD".index(item.gold)] == big.colour
        item = make_item("train", 0, index, "colour")
        asked = item.question.split("the ")[1].split(" in")[0]
        (shape,) = [s for s in drawn(item) if s.kind == asked]
        assert item.choices["ABCD".index(item.gold)] == shape.colour


def test_text_ink_lies_inside_its_measured_box():
    for index in range(8):
        item = make_item("train", 0, index, "number")
        spec = item.spec
        image, box = draw.render_text(spec["text"], spec["bg"], spec["colour"], spec["px"], tuple(spec["xy"]))
        ink = np.any(np.asarray(image) != np.array(draw.BACKGROUNDS[spec["bg"]], dtype=np.uint8), axis=-1)
        ys, xs = np.nonzero(ink)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == box
        assert item.gold == spec["text"] and np.array_equal(np.asarray(image), np.asarray(item.image))


def _hex(colour):
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)


def _ring(box, size):
    x1, y1, x2, y2 = box
    return [(x, y) for x in range(x1 - 1, x2 + 1) for y in (y1 - 1, y2) if 0 <= x < size[0] and 0 <= y < size[1]] + \
           [(x, y) for y in range(y1, y2) for x in (x1 - 1, x2) if 0 <= x < size[0] and 0 <= y < size[1]]


def test_gui_dom_boxes_match_the_screenshot_pixels():
    import random
    specs = [gui.make_spec(random.Random(k)) for k in range(10)]
    for spec, (image, elements) in zip(specs, gui.render(specs)):
        px = np.asarray(image)
        assert image.size == gui.SIZE
        for e in elements:
            assert gui.visible(e), e
            fill = {"button": spec["accent"], "menu": "#44556b", "icon": "#c9d3df", "field": "#8a8a8a"}[e.kind]
            x1, y1, x2, y2 = e.box
            is_fill = np.all(px == _hex(fill), axis=-1)
            assert not any(is_fill[y, x] for x, y in _ring(e.box, image.size)), f"{e} colour leaks outside its box"
            if e.kind == "field":  # a 1-px border: the box's own edges are all border
                assert is_fill[y1, x1:x2].all() and is_fill[y2 - 1, x1:x2].all() and is_fill[y1:y2, x1].all()
            else:
                assert is_fill[y1:y2, x1:x2].mean() > 0.5, e
                inner = is_fill[y1 + 2:y2 - 2, x1 + 2:x2 - 2]
                assert inner[0].any() and inner[-1].any() and inner[:, 0].any() and inner[:, -1].any(), e


def test_gui_items_click_gold_is_the_named_elements_dom_box():
    (item,) = build.gui_items("train", 0, [3])
    kind, name = item.answer.split(" ", 1)
    assert item.gold["action"] == "click" and item.gold["image_size"] == list(gui.SIZE)
    assert name in item.question and kind in item.question
    x1, y1, x2, y2 = item.gold["bbox"]
    assert 0 <= x1 < x2 <= gui.SIZE[0] and 0 <= y1 < y2 <= gui.SIZE[1]


def test_plural_kinds_are_spelled_as_english():
    """'How many crosses', never 'crosss': questions, captions and the seeing statements say a
    plural kind the way a reader (and the language model) would."""
    from mmrl.scenes.items import facts
    from mmrl.scenes.seeing import statement

    texts = []
    for skill in ("count", "size"):
        for index in range(120):
            item = make_item("train", 0, index, skill)
            texts += [item.question, item.caption, facts(item.spec)]
            first = item.question.splitlines()[0]
            texts += [statement(skill, first, c) for c in (item.choices or [item.answer])]
    joined = "\n".join(texts)
    assert "crosss" not in joined and "crosse " not in joined
    assert "How many crosses are in the image?" in joined and "There are two crosses." in joined
    assert "The larger cross is" in joined
