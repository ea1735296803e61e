"""The per-token labels that pretrain smolvl's tower (mmrl/scenes/dense.py) agree with the pixels
of the drawn image, and sum to the drawn counts."""
from collections import Counter

import numpy as np
import pytest

from mmrl.scenes import dense, draw
from mmrl.scenes.items import make_item


def palette_share(image, cell_row, cell_col):
    """{colour name: fraction of the cell's pixels painted in exactly that palette colour}."""
    c = dense.CELL
    pixels = np.asarray(image)[cell_row * c:(cell_row + 1) * c, cell_col * c:(cell_col + 1) * c].reshape(-1, 3)
    return {name: float(np.all(pixels == rgb, axis=-1).mean()) for name, rgb in draw.COLOURS.items()}


@pytest.mark.parametrize("skill", dense.SKILLS)
def test_colour_labels_are_the_palette_colour_that_fills_each_cell(skill):
    for index in range(10):
        item = make_item("train", 0, index, skill)
        labels = dense.token_labels(item.spec)
        assert labels.colour.shape == (draw.SIZE[1] // dense.CELL, draw.SIZE[0] // dense.CELL)
        for (r, c), colour in np.ndenumerate(labels.colour):
            share = palette_share(item.image, r, c)
            top = max(share, key=share.get)
            if share[top] >= dense.MIN_SHARE:
                # a filled cell is labelled; its colour is the one painted most unless a centre decides
                assert colour > 0, (item.id, r, c, share)
                if labels.centres[r, c] == 0:
                    assert dense.COLOUR_CLASSES[colour] == top, (item.id, r, c, share)
            if colour > 0:
                assert share[dense.COLOUR_CLASSES[colour]] > 0, (item.id, r, c)  # never a colour not painted there
            else:
                assert labels.kind[r, c] == 0 and labels.centres[r, c] == 0


def test_centres_add_up_to_the_drawn_counts_per_kind():
    checked = 0
    for index in range(40):
        item = make_item("train", 0, index, "count")
        labels = dense.token_labels(item.spec)
        shapes = [draw.Placement(*s) for s in item.spec["shapes"]]
        assert labels.centres.sum() == len(shapes), item.id
        if labels.centres.max() == 1:  # one centre per cell: that cell carries its shape's kind
            per_kind = Counter()
            for (r, c), n in np.ndenumerate(labels.centres):
                per_kind[dense.KIND_CLASSES[labels.kind[r, c]]] += n
            assert per_kind == Counter(p.kind for p in shapes), item.id
            assert per_kind[item.spec["kind"]] == int(item.answer), item.id
            checked += 1
    assert checked >= 30


def test_images_without_shapes_spec_are_ignored_by_the_loss():
    word, count = make_item("train", 0, 0, "word"), make_item("train", 0, 0, "count")
    assert dense.token_labels(word.spec) is None
    wanted = dense.targets([word.spec, count.spec], [64, 64])
    assert set(wanted) == set(dense.HEADS)
    for target in wanted.values():
        assert (target[:64] == -100).all() and (target[64:] >= 0).all()
    # a label grid that does not match the image's token count (another frame) is ignored, not misread
    assert (dense.targets([count.spec], [108])["colour"] == -100).all()
