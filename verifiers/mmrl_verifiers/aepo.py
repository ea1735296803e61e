"""AEPO's adaptive exploration reward (InfiGUI-G1 `recipe/infigui-g1/reward_fn.py`;
algorithms.md §9, verifiers.md §4.3): the model lists several candidate points,

    score = 1 + 1/sqrt(N·k)   if the k-th of N points is the first inside the gold box
          = 1 - 1/N           if none is;   0 for an empty list
          = -1                bad think format, unparsable list, or any 3 points collinear.

Differences from the reference, both to bound work and keep garbage below every real answer:
more than `max_points` points (default 32; the collinearity test is O(N³)) and non-finite or
non-numeric coordinates score -1 (the reference raises on non-numbers -> -1, treats NaN as a miss).
"""
from __future__ import annotations

import itertools
import json
import math
from typing import Any

from . import geometry as geo
from .frames import FrameError, frames_from, suspect_frame
from .boxes import gold_boxes, read_gold
from .structured import MAX_ANSWER_CHARS, first_balanced, numbers
from .verdict import Verdict

INVALID = -1.0


def _think_problem(response: str) -> str | None:
    """InfiGUI-G1's think check (stricter than §1.2: no leading whitespace allowed)."""
    if not response.startswith("<think>"):
        return "does not start with <think>"
    if response.count("<think>") != 1 or response.count("</think>") != 1:
        return "needs exactly one <think> and one </think>"
    think, _, rest = response[len("<think>"):].partition("</think>")
    if not think.strip() or not rest.strip():
        return "empty think block or nothing after </think>"
    return None


def _points(answer: str, max_points: int) -> tuple[list[list[float]] | None, str]:
    span = first_balanced(answer[-MAX_ANSWER_CHARS:], "[")
    try:
        items = json.loads(span) if span else None
    except (ValueError, RecursionError):
        items = None
    if not isinstance(items, list):
        return None, "no JSON list of {\"point_2d\": [x, y]} found"
    if len(items) > max_points:
        return None, f"{len(items)} points, more than max_points {max_points}"
    points = [numbers(item.get("point_2d"), 2) if isinstance(item, dict) else None for item in items]
    if any(p is None for p in points):
        return None, "every element needs \"point_2d\": [x, y] with two finite numbers"
    return points, ""


def collinear(points: list[list[float]]) -> bool:
    """Any three points on one line (the reference's math.isclose test on the cross product)."""
    return any(math.isclose((b[1] - a[1]) * (c[0] - a[0]), (c[1] - a[1]) * (b[0] - a[0]))
               for a, b, c in itertools.combinations(points, 3))


def verify_aepo(response: str, gold: Any, no_think: bool = False, max_points: int = 32,
                **frame_options) -> Verdict:
    """Adaptive exploration reward of a multi-point answer against one gold box. A truncated
    generation never gets here: the pool scores it like an invalid answer (fail_score -1)."""
    try:
        payload, meta = read_gold(gold, "aepo")
        model, gold_frame = frames_from(frame_options, meta)
        (box, _), *more = gold_boxes(payload, gold_frame)
        if more:
            raise ValueError("aepo gold must hold exactly one box")
    except (ValueError, FrameError) as e:
        return Verdict.unjudged("gold_error", str(e))
    problem = None if no_think else _think_problem(response)
    if problem:
        return Verdict.fail("format_error", problem, INVALID, format=0.0, accuracy=0.0)
    points, problem = _points(response.rpartition("</think>")[2], max_points)
    if points is None:
        return Verdict.fail("format_error", problem, INVALID, format=0.0, accuracy=0.0)
    if collinear(points):  # judged in the model's own frame, as the reference does
        return Verdict.fail("format_error", "three of the points are collinear", INVALID, format=0.0, accuracy=0.0)
    n = len(points)
    pixels = [model.to_abs(p) for p in points]
    k = next((i + 1 for i, p in enumerate(pixels) if geo.in_box(p, box)), None)
    accuracy = -1.0 if n == 0 else 1 / math.sqrt(n * k) if k else -1 / n
    note = suspect_frame([c for p in points for c in p], model)
    reason = (f"point {k} of {n} hits the gold box" if k else f"none of {n} points hits the gold box")
    return Verdict(1.0 + accuracy, {"format": 1.0, "accuracy": accuracy}, "ok" if k else "wrong",
                   reason + (f"; {note}" if note else ""), json.dumps(points)[:512],
                   {"n_points": n, "first_hit": k})
