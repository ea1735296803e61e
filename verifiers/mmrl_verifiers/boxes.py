"""Boxes in answers and golds: parsing every spelling the anchors use, reading gold boxes, and
converting a model-frame box to clipped original pixels (shared by grounding.py and aepo.py)."""
from __future__ import annotations

import json
from typing import Any

from . import geometry as geo
from .frames import Frame
from .structured import bare_boxes, load_structured, numbers, qwen2_boxes

BOX_KEYS = ("bbox_2d", "bbox", "box", "Position", "position")
POINT_KEYS = ("point_2d", "point", "coordinate")
LABEL_KEYS = ("label", "category", "name")


def find_key(d: dict, keys: tuple[str, ...]) -> Any:
    return next((d[k] for k in keys if k in d), None)


def collect_boxes(value: Any) -> list[tuple[list[float] | None, str | None]] | None:
    """Boxes (None for an unusable one) and labels in a parsed answer, or None if it holds none."""
    if isinstance(value, dict):
        raw = find_key(value, BOX_KEYS)
        if raw is None:
            return None
        label = find_key(value, LABEL_KEYS)
        return [(numbers(raw, 4), label if isinstance(label, str) else None)]
    if isinstance(value, (list, tuple)):
        if len(value) == 4 and not any(isinstance(v, (list, tuple, dict)) for v in value):
            return [(numbers(value, 4), None)]
        out = []
        for item in value:
            found = collect_boxes(item)
            if found is None:
                return None
            out.extend(found)
        return out
    return None


def parse_boxes(region: str) -> list[tuple[list[float] | None, str | None]] | None:
    """Predicted (box, label) pairs in model-frame numbers; None when the answer holds no boxes.

    Accepts Qwen2 `<|box_start|>(x1,y1),(x2,y2)<|box_end|>`, JSON `{"bbox_2d": [...], "label"}`,
    lists of those, a bare `[x1, y1, x2, y2]`; as a last resort any 4-number lists in the text
    (also when the text holds more of them than the parsed JSON, so extra boxes are never hidden)."""
    qwen2 = qwen2_boxes(region)
    if qwen2:
        return [(b, None) for b in qwen2]
    value = load_structured(region)
    found = collect_boxes(value) if value is not None else None
    bare = bare_boxes(region)
    if found is not None and len(found) >= len(bare):
        return found
    return [(b, None) for b in bare] if bare else None  # more boxes in the text than in its JSON


def to_abs_box(box: list[float] | None, model: Frame) -> tuple[list[float] | None, str | None]:
    """Model-frame box -> clipped original-pixel box, or (None, why it is unusable)."""
    if box is None:
        return None, "the box is not four finite numbers"
    problem = geo.box_problem(box)
    if problem:
        return None, problem
    out = geo.clip(model.to_abs(box), model.image_size)
    if geo.area(out) <= 0:
        return None, "the box lies outside the image"
    return out, None


def read_gold(gold: Any, what: str) -> tuple[Any, dict]:
    """(payload, metadata) of a gold given as JSON text, a bare value or a dict with metadata."""
    if isinstance(gold, str):
        try:
            gold = json.loads(gold)
        except ValueError:
            raise ValueError(f"{what} gold is not JSON: {gold[:80]!r}") from None
    meta = gold if isinstance(gold, dict) else {}
    return gold, meta


def gold_boxes(items: Any, gold_frame: Frame) -> list[tuple[list[float], str | None]]:
    found = collect_boxes(items)
    if found is None:
        raise ValueError(f"gold holds no boxes: {str(items)[:80]}")
    out = []
    for box, label in found:
        abs_box, problem = to_abs_box(box, gold_frame)
        if abs_box is None:
            raise ValueError(f"gold box {box}: {problem}")
        out.append((abs_box, label))
    return out
