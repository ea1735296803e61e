"""Scene items: an image, a question, the gold in the format its verifier reads, a reference answer
(what a perfect model would say; `mmrl eval --gold` feeds it in), and a caption for alignment.

Splits are disjoint by construction: every item is defined by a JSON spec (the scene and what is
asked), and a spec belongs to the held-out split exactly when sha256(spec) falls in bucket 0 of
HELDOUT_BUCKETS; each split's generator redraws until its spec lands in its own buckets. So the
two splits can never share an item, whatever their seeds and sizes, and they share one distribution.
"""
from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from PIL import Image

from . import draw
from .draw import COLOURS, KINDS, SIZE, Placement

HELDOUT_BUCKETS = 10
LETTERS = "ABCD"
SPLITS = ("train", "heldout")
MAX_COUNT = 5
WORDS = ("cat", "sun", "tree", "book", "fish", "door", "moon", "ship", "cake", "lamp", "bird", "road",
         "milk", "rain", "star", "ball", "hat", "key", "pen", "box")
BOXED = "Put the letter of the correct choice within \\boxed{}."


@dataclass
class Item:
    id: str
    skill: str
    image: Image.Image
    question: str
    verifier: str            # mcq | math | grounding | gui
    gold: Any                # in the verifier's gold format
    reference: str           # a response the verifier scores 1.0
    caption: str             # a plain description of the image, for alignment (never a question)
    choices: list[str] = field(default_factory=list)
    answer: str = ""         # the gold in words ("red", "3", "left"), for likelihood scoring
    spec: dict = field(default_factory=dict)


def split_of(spec: dict) -> str:
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).digest()
    return "heldout" if int.from_bytes(digest[:8], "big") % HELDOUT_BUCKETS == 0 else "train"


def item_rng(split: str, seed: int, skill: str, index: int) -> random.Random:
    return random.Random(f"scenes:{split}:{seed}:{skill}:{index}")  # str seeds hash with sha512: stable


def coords_wording(coords: str, image: str, size: tuple[int, int]) -> str:
    """How a question asks for coordinates: in pixels (Qwen2.5-VL's frame; scenes are never resized,
    so the model's pixels are the image's) or in fractions of the image's sides (verifier frame norm1)."""
    if coords == "pixels":
        return f"in pixels of this {size[0]}x{size[1]} {image}"
    return f"in fractions of the {image}'s width and height (0 to 1)"


def _mcq(rng: random.Random, gold: str, pool: list[str]) -> tuple[list[str], str]:
    choices = [gold] + rng.sample([p for p in pool if p != gold], min(len(LETTERS), len(pool)) - 1)
    rng.shuffle(choices)
    return choices, LETTERS[choices.index(gold)]


def _choices_text(choices: list[str]) -> str:
    return "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def _where(shape: draw.Shape) -> str:
    cx, cy = shape.centre
    col = "left" if cx < SIZE[0] / 3 else "right" if cx > 2 * SIZE[0] / 3 else ""
    row = "top" if cy < SIZE[1] / 3 else "bottom" if cy > 2 * SIZE[1] / 3 else ""
    return f"{row} {col}".strip() or "centre"


def caption(shapes: list[draw.Shape], bg: str) -> str:
    """'On a cream background: a large red circle at the top left, two small blue stars ...'"""
    if not shapes:  # a count item asking about a kind that is absent, and no distractors drawn
        return f"On a {bg} background: no shapes."
    parts = [f"a {s.size} {s.colour} {s.kind} at the {_where(s)}" for s in shapes]
    counts: dict[str, int] = {}
    for s in shapes:
        counts[s.kind] = counts.get(s.kind, 0) + 1
    tally = ", ".join(f"{n} {draw.PLURALS[k] if n > 1 else k}" for k, n in sorted(counts.items()))
    return f"On a {bg} background: {'; '.join(parts)}. In all: {tally}."


def how_many(kind: str, n: int) -> str:
    """'There are no stars in the image.', 'There is 1 star ...', 'There are 3 stars ...'."""
    if n == 1:
        return f"There is 1 {kind} in the image."
    return f"There are {'no' if n == 0 else n} {draw.PLURALS[kind]} in the image."


def facts(spec: dict) -> str:
    """A shape scene as one short fact per sentence, in the words an answer uses ("There are 3 stars
    in the image. The circle is red. The red object is a circle."): a second caption style for
    alignment (scripts/pretrain_smolvl.py --captions facts), still a description, never a question.
    A colour or shape fact is stated only where it names one object; "" for text scenes."""
    if "text" in spec:
        return ""
    shapes = [(kind, colour, size) for kind, colour, size, *_ in spec["shapes"]]
    asked = spec.get("kind")  # a count scene's kind, stated even when none is drawn
    if not shapes:
        return f"There are no {draw.PLURALS[asked]} in the image." if asked else "There are no shapes in the image."
    per_kind, per_colour = Counter(k for k, _, _ in shapes), Counter(c for _, c, _ in shapes)
    out = [how_many(k, n) for k, n in sorted(per_kind.items())]
    if asked and asked not in per_kind:
        out.insert(0, how_many(asked, 0))
    for kind, colour, _ in shapes:
        if per_kind[kind] == 1:
            out.append(f"The {kind} is {colour}.")
        if per_colour[colour] == 1:
            out.append(f"The {colour} object is a {kind}.")
    for kind in sorted(per_kind):
        pair = [s for s in shapes if s[0] == kind]
        if len(pair) == 2 and pair[0][2] != pair[1][2]:
            larger = max(pair, key=lambda s: list(draw.SIZES).index(s[2]))
            out.append(f"The larger {kind} is {larger[1]}.")
    return " ".join(out)


def _scene(rng: random.Random, wanted: list[tuple[str, str, str]], distractors: int,
           avoid: Callable[[str, str], bool] = lambda kind, colour: False):
    """Placements for `wanted` (kind, colour, size) plus up to `distractors` others for which
    avoid(kind, colour) is false; None when they do not fit (the caller redraws)."""
    taken: list = []
    out = []
    for kind, colour, size in wanted:
        p = draw.place(rng, kind, colour, size, taken)
        if p is None:
            return None
        out.append(p)
    for _ in range(distractors):
        kind, colour = rng.choice(KINDS), rng.choice(list(COLOURS))
        if not avoid(kind, colour):
            p = draw.place(rng, kind, colour, rng.choice(list(draw.SIZES)), taken)
            if p is not None:
                out.append(p)
    return out


def _backdrop(rng: random.Random) -> tuple[str, str]:
    return rng.choice(list(draw.BACKGROUNDS)), rng.choice(("plain", "plain", "stripes", "grid"))


def _spec_of(skill, bg, pattern, placements, **extra) -> dict:
    return {"skill": skill, "bg": bg, "pattern": pattern,
            "shapes": [[p.kind, p.colour, p.size, p.cx, p.cy, p.width] for p in placements], **extra}


def make_colour(rng, skill: str = "colour", most_distractors: int = 3):
    kind, colour = rng.choice(KINDS), rng.choice(list(COLOURS))
    bg, pattern = _backdrop(rng)
    ps = _scene(rng, [(kind, colour, rng.choice(list(draw.SIZES)))], rng.randint(0, most_distractors),
                lambda k, c: k == kind)
    if ps is None:
        return None
    choices, letter = _mcq(rng, colour, list(COLOURS))
    q = f"What colour is the {kind} in the image?\nChoices:\n{_choices_text(choices)}\n{BOXED}"
    return _spec_of(skill, bg, pattern, ps, choices=choices), q, "mcq", letter, colour, choices


def make_single(rng):
    """One shape alone: alignment's first stage (a kind and a colour to name, nothing to tell apart).
    Not an evaluation skill; its question is the colour item's."""
    return make_colour(rng, "single", 0)


def make_shape(rng):
    kind, colour = rng.choice(KINDS), rng.choice(list(COLOURS))
    bg, pattern = _backdrop(rng)
    ps = _scene(rng, [(kind, colour, rng.choice(list(draw.SIZES)))], rng.randint(0, 3), lambda k, c: c == colour)
    if ps is None:
        return None
    choices, letter = _mcq(rng, kind, list(KINDS))
    q = f"What shape is the {colour} object in the image?\nChoices:\n{_choices_text(choices)}\n{BOXED}"
    return _spec_of("shape", bg, pattern, ps, choices=choices), q, "mcq", letter, kind, choices


def make_count(rng):
    kind, n = rng.choice(KINDS), rng.randint(0, MAX_COUNT)
    bg, pattern = _backdrop(rng)
    wanted = [(kind, rng.choice(list(COLOURS)), rng.choice(list(draw.SIZES))) for _ in range(n)]
    ps = _scene(rng, wanted, rng.randint(0, 3), lambda k, c: k == kind)
    if ps is None:
        return None
    q = f"How many {draw.PLURALS[kind]} are in the image? Put the number within \\boxed{{}}."
    return _spec_of("count", bg, pattern, ps, kind=kind), q, "math", str(n), str(n), []


def make_position(rng):
    """Two shapes whose offset is clearly horizontal or clearly vertical (ratio >= 2, gap >= 40 px)."""
    (k1, k2), (c1, c2) = rng.sample(KINDS, 2), rng.sample(list(COLOURS), 2)
    bg, pattern = _backdrop(rng)
    ps = _scene(rng, [(k1, c1, "large"), (k2, c2, "large")], 0)
    if ps is None:
        return None
    dx, dy = ps[0].cx - ps[1].cx, ps[0].cy - ps[1].cy
    if max(abs(dx), abs(dy)) < 40 or max(abs(dx), abs(dy)) < 2 * min(abs(dx), abs(dy)):
        return None
    rel = ("left" if dx < 0 else "right") if abs(dx) > abs(dy) else ("above" if dy < 0 else "below")
    options = ["left", "right", "above", "below"]
    choices, letter = _mcq(rng, rel, options)
    q = (f"Where is the {c1} {k1} relative to the {c2} {k2}? (left: to its left, right: to its right, "
         f"above, below)\nChoices:\n{_choices_text(choices)}\n{BOXED}")
    return _spec_of("position", bg, pattern, ps, choices=choices), q, "mcq", letter, rel, choices


def make_size(rng):
    kind = rng.choice(KINDS)
    c1, c2 = rng.sample(list(COLOURS), 2)
    bg, pattern = _backdrop(rng)
    ps = _scene(rng, [(kind, c1, "large"), (kind, c2, "small")], rng.randint(0, 2), lambda k, c: k == kind)
    if ps is None:
        return None
    choices, letter = _mcq(rng, c1, [c1, c2])
    q = (f"There are two {draw.PLURALS[kind]}. What colour is the larger one?\nChoices:\n{_choices_text(choices)}\n{BOXED}")
    return _spec_of("size", bg, pattern, ps, choices=choices), q, "mcq", letter, c1, choices


def make_ground(rng):
    kind, colour = rng.choice(KINDS), rng.choice(list(COLOURS))
    bg, pattern = _backdrop(rng)
    ps = _scene(rng, [(kind, colour, rng.choice(list(draw.SIZES)))], rng.randint(1, 4),
                lambda k, c: k == kind and c == colour)
    if ps is None:
        return None
    q = ground_question(f"{colour} {kind}", "pixels")
    return _spec_of("ground", bg, pattern, ps, target=0), q, "grounding", None, f"{colour} {kind}", []


def ground_question(target: str, coords: str) -> str:
    return (f"Find the {target}. Answer with its bounding box {coords_wording(coords, 'image', SIZE)} "
            'as <answer>{"bbox_2d": [x1, y1, x2, y2]}</answer>.')


def ground_reference(box: list) -> str:
    return f'<answer>{{"bbox_2d": {json.dumps(box)}}}</answer>'


def _text_item(rng, skill: str, text: str):
    bg = rng.choice(list(draw.BACKGROUNDS))
    colour, px = rng.choice(list(draw.TEXT_COLOURS)), rng.randint(28, 56)
    w, h = draw.text_size(text, px)
    if w + 8 > SIZE[0] or h + 8 > SIZE[1]:
        return None
    xy = (rng.randint(4, SIZE[0] - w - 4), rng.randint(4, SIZE[1] - h - 4))
    return {"skill": skill, "bg": bg, "text": text, "colour": colour, "px": px, "xy": list(xy)}


def make_number(rng):
    n = str(rng.randint(0, 999))
    spec = _text_item(rng, "number", n)
    q = "What number is written in the image? Put the number within \\boxed{}."
    return (spec, q, "math", n, n, []) if spec else None


def make_word(rng):
    word = rng.choice(WORDS)
    spec = _text_item(rng, "word", word)
    if spec is None:
        return None
    choices, letter = _mcq(rng, word, list(WORDS))
    spec["choices"] = choices
    q = f"Which word is written in the image?\nChoices:\n{_choices_text(choices)}\n{BOXED}"
    return spec, q, "mcq", letter, word, choices


SHAPE_SKILLS = {"colour": make_colour, "shape": make_shape, "count": make_count, "position": make_position,
                "size": make_size, "ground": make_ground, "number": make_number, "word": make_word}
ALIGN_ONLY_SKILLS = {"single": make_single}  # scenes for alignment curricula, not in the held-out benchmark
MAKERS = {**SHAPE_SKILLS, **ALIGN_ONLY_SKILLS}


def render_item(skill: str, spec: dict, question: str, verifier: str, gold, answer: str,
                choices: list[str], item_id: str) -> Item:
    """Draw a spec'd PIL scene and fill in the golds that need the drawing (boxes)."""
    if "text" in spec:
        image, box = draw.render_text(spec["text"], spec["bg"], spec["colour"], spec["px"], tuple(spec["xy"]))
        cap = f'The {"number" if skill == "number" else "word"} "{spec["text"]}" is written in {spec["colour"]} ' \
              f'on a {spec["bg"]} background.'
    else:
        ps = [Placement(*s) for s in spec["shapes"]]
        image, shapes = draw.render(ps, spec["bg"], spec["pattern"])
        cap = caption(shapes, spec["bg"])
        if skill == "ground":
            box = list(shapes[spec["target"]].box)
            gold = {"bbox": box, "image_size": list(SIZE)}
    if verifier == "grounding":
        reference = ground_reference(gold["bbox"])
    else:
        reference = f"\\boxed{{{gold}}}"
    return Item(item_id, skill, image, question, verifier, gold, reference, cap, choices, answer, spec)


def make_item(split: str, seed: int, index: int, skill: str) -> Item:
    """Item `index` of a split: drawn from its own rng until its spec belongs to the split."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = item_rng(split, seed, skill, index)
    while True:
        made = MAKERS[skill](rng)
        if made is not None and split_of(made[0]) == split:
            spec, q, verifier, gold, answer, choices = made
            return render_item(skill, spec, q, verifier, gold, answer, choices, f"{split}-{skill}-{index:05d}")
