"""Grounding (one box), detection (a set of labelled boxes) and counting (verifiers.md §5.3-5.5).

Every prediction is converted from the model's frame to original-image pixels before it is
compared (frames.py); the options naming the frame are listed in docs/vision-verifiers.md."""
from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from . import geometry as geo
from .boxes import BOX_KEYS, POINT_KEYS, find_key, gold_boxes, parse_boxes, read_gold, to_abs_box
from .frames import Frame, FrameError, frames_from, suspect_frame
from .structured import load_structured, numbers, think_answer
from .verdict import Verdict

MAX_PRED_HARD = 100        # detection: never match more boxes than this
MAX_COUNT_ITEMS = 1000     # counting: longest list of points/boxes read


def best_matching(gain: list[list[float]]) -> list[tuple[int, int]]:
    """Pairs (row, column) of the one-to-one assignment maximising the summed gain (Hungarian)."""
    if not gain or not gain[0]:
        return []
    rows, cols = linear_sum_assignment(np.asarray(gain, dtype=float), maximize=True)
    return list(zip(rows.tolist(), cols.tolist()))


def _setup(response, gold, what, think_mode, answer_tag, options):
    """Shared start of every verifier here: gold, frames, format and answer region."""
    payload, meta = read_gold(gold, what)
    model, gold_frame = frames_from(options, meta)
    format_ok, region = think_answer(response, think_mode, answer_tag)
    return payload, model, gold_frame, format_ok, region


def _total(acc: float, format_ok: bool, format_weight: float) -> float:
    return (1 - format_weight) * acc + format_weight * float(format_ok)


def _frame_note(boxes, model: Frame) -> str:
    coords = [c for b, _ in boxes if b is not None for c in b]
    warning = suspect_frame(coords, model)
    return f"; {warning}" if warning else ""


ACC_MODES = ("iou", "iou_sq", "thresh", "giou", "gaussian_iou")


def verify_grounding(response: str, gold: Any, acc_mode: str = "iou", think_mode: str = "required",
                     answer_tag: str | None = "answer", format_weight: float = 0.1, alpha: float = 0.25,
                     truncated: bool = False, **frame_options) -> Verdict:
    """One box for one referring expression; accuracy = IoU (or IoU², 1[IoU >= 0.5], (GIoU + 1) / 2,
    or gaussian_iou: (GUI-G²'s Gaussian at the box's centre, σ = alpha·the gold box's size, + IoU) / 2;
    the last two still rank boxes that miss the object, and gaussian_iou pays a larger box nothing for
    its size, where GIoU pays the whole image about half). Whatever the mode, a box is correct (status
    "ok") at IoU >= 0.5: the mode shapes the reward, not what counts as found."""
    if acc_mode not in ACC_MODES:
        return Verdict.unjudged("gold_error", f"acc_mode {acc_mode!r}: use one of {', '.join(ACC_MODES)}")
    if not (isinstance(alpha, (int, float)) and alpha > 0):
        return Verdict.unjudged("gold_error", f"alpha {alpha!r}: a positive number (the Gaussian's σ per box size)")
    try:
        payload, model, gold_frame, format_ok, region = _setup(
            response, gold, "grounding", think_mode, answer_tag, frame_options)
        (gold_box, _), *more = gold_boxes(payload, gold_frame)
        if more:
            raise ValueError("grounding gold must hold exactly one box")
    except (ValueError, FrameError) as e:
        return Verdict.unjudged("gold_error", str(e))
    boxes = parse_boxes(region)
    if not boxes or all(box is None for box, _ in boxes):  # {"bbox_2d": [1, 1]} holds no box
        return Verdict.fail("format_error", "no box (four numbers) found in the answer", 0.0, format=0.0,
                            accuracy=0.0)
    note = _frame_note(boxes, model)
    info: dict[str, Any] = {"model_frame": model.describe()}
    pred, problem = to_abs_box(boxes[0][0], model)
    if len(boxes) > 1:
        acc, problem, info["multi_box"] = 0.0, f"{len(boxes)} boxes given, exactly one is required", True
    elif pred is None:
        acc = 0.0
    else:
        value = geo.iou(pred, gold_box)
        info["iou"] = value
        if acc_mode == "giou":
            acc = (geo.giou(pred, gold_box) + 1) / 2
        elif acc_mode == "gaussian_iou":
            acc = (geo.gaussian_point(geo.centre(pred), gold_box, alpha) + value) / 2
        else:
            acc = {"iou": value, "iou_sq": value * value, "thresh": float(value >= 0.5)}[acc_mode]
        problem = f"IoU {value:.4f}"
    if truncated:  # the pool's rule: finish_reason=length and not allow_truncated
        acc, problem = 0.0, "the generation was truncated (finish_reason=length)"
    status = "ok" if acc > 0 and info.get("iou", 0.0) >= 0.5 else "wrong"
    return Verdict(_total(acc, format_ok, format_weight), {"format": float(format_ok), "accuracy": acc},
                   status, problem + note, json.dumps(pred) if pred else None, info)


def _norm_label(label: str | None, synonyms: dict[str, str]) -> str | None:
    if label is None:
        return None
    key = " ".join(label.lower().split())
    return synonyms.get(key, key)


def verify_detection(response: str, gold: Any, iou_threshold: float = 0.5, max_pred: int | None = None,
                     synonyms: dict[str, str] | None = None, think_mode: str = "required",
                     answer_tag: str | None = "answer", format_weight: float = 0.1,
                     truncated: bool = False, **frame_options) -> Verdict:
    """A set of labelled boxes; accuracy = Σ IoU over Hungarian-matched pairs with IoU >= τ,
    divided by max(#predicted, #gold). More than `max_pred` boxes (default max(3·#gold, 20),
    never above 100) scores 0."""
    synonyms = {k.lower(): v.lower() for k, v in (synonyms or {}).items()}
    try:
        payload, model, gold_frame, format_ok, region = _setup(
            response, gold, "detection", think_mode, answer_tag, frame_options)
        items = payload.get("boxes", []) if isinstance(payload, dict) else payload
        golds = gold_boxes(items, gold_frame) if items else []
    except (ValueError, FrameError) as e:
        return Verdict.unjudged("gold_error", str(e))
    preds = parse_boxes(region)
    if preds is None:
        return Verdict.fail("format_error", "no box list found in the answer", 0.0, format=0.0, accuracy=0.0)
    limit = min(max_pred if max_pred is not None else max(3 * len(golds), 20), MAX_PRED_HARD)
    parts_info: dict[str, Any] = {"n_pred": len(preds), "n_gold": len(golds)}
    note = _frame_note(preds, model)
    if len(preds) > limit:
        acc, reason = 0.0, f"too_many_boxes: {len(preds)} > max_pred {limit}"
    elif not golds:
        acc, reason = float(not preds), "empty gold: " + ("no boxes predicted" if not preds else "boxes predicted")
    else:
        use_labels = any(label is not None for _, label in golds)
        gain = []
        for box, label in preds:
            abs_box, _ = to_abs_box(box, model)
            gain.append([geo.iou(abs_box, g) if abs_box is not None and (
                not use_labels or _norm_label(label, synonyms) == _norm_label(gl, synonyms)) else 0.0
                for g, gl in golds])
        matched = [gain[i][j] for i, j in best_matching(gain) if gain[i][j] >= iou_threshold]
        acc = sum(matched) / max(len(preds), len(golds))
        reason = f"{len(matched)} of {len(golds)} gold boxes matched by {len(preds)} predictions"
        parts_info["true_positives"] = len(matched)
    if truncated:  # the pool's rule: finish_reason=length and not allow_truncated
        acc, reason = 0.0, "the generation was truncated (finish_reason=length)"
    status = "ok" if acc >= 0.5 else "wrong"
    return Verdict(_total(acc, format_ok, format_weight), {"format": float(format_ok), "accuracy": acc},
                   status, reason + note, None, parts_info)


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _points_or_boxes(value: Any) -> list[list[float] | None] | None:
    """A predicted list of points / boxes (as points: their centres), or None if not such a list."""
    if not isinstance(value, list) or not value:
        return None
    out = []
    for item in value:
        if isinstance(item, dict):
            item = find_key(item, POINT_KEYS + BOX_KEYS)
        if not isinstance(item, (list, tuple)) or len(item) not in (2, 4):
            return None
        nums = numbers(item, len(item))
        out.append(nums if nums is None or len(nums) == 2 else geo.centre(nums))
    return out


def verify_counting(response: str, gold: Any, count_mode: str = "exact", radius_px: float | None = None,
                    think_mode: str = "required", answer_tag: str | None = "answer",
                    format_weight: float = 0.1, truncated: bool = False, **frame_options) -> Verdict:
    """Count = the last integer of the answer, or the length of a predicted point/box list.
    Gold: an integer, or {"count": N, "boxes"|"points": [...] (optional), "image_size", "frame"}."""
    if count_mode not in ("exact", "partial"):
        return Verdict.unjudged("gold_error", f"count_mode {count_mode!r}: use exact or partial")
    try:
        payload, meta = read_gold(gold, "counting")
        n_gold = payload.get("count") if isinstance(payload, dict) else payload
        if isinstance(n_gold, bool) or not isinstance(n_gold, int) or n_gold < 0:
            raise ValueError(f"counting gold needs a non-negative integer count, got {n_gold!r}")
        locations = meta.get("boxes") or meta.get("points")
        format_ok, region = think_answer(response, think_mode, answer_tag)
    except ValueError as e:
        return Verdict.unjudged("gold_error", str(e))
    listed = _points_or_boxes(load_structured(region))
    info: dict[str, Any] = {}
    if listed is None:
        found = _NUMBER.findall(region)
        if not found:
            return Verdict.fail("format_error", "no count found in the answer", 0.0, format=0.0, accuracy=0.0)
        last = found[-1]
        n = int(last) if last.isdigit() and len(last) <= 6 else None
        reason = f"counted {n}, gold {n_gold}" if n is not None else \
            f"count {last[:20]!r} is not a non-negative integer of at most 6 digits"
    else:
        n = len(listed)
        reason = f"listed {n}, gold {n_gold}" if n <= MAX_COUNT_ITEMS else f"{n} items listed, more than {MAX_COUNT_ITEMS}"
    if n is None or n > MAX_COUNT_ITEMS:
        acc = 0.0
    elif listed is not None and locations:
        try:
            model, gold_frame = frames_from(frame_options, meta)
            acc, info = _located_count(listed, locations, model, gold_frame, radius_px)
        except (ValueError, FrameError) as e:
            return Verdict.unjudged("gold_error", str(e))
    elif count_mode == "exact":
        acc = float(n == n_gold)
    else:
        acc = max(0.0, 1 - abs(n - n_gold) / max(n_gold, 1))
    if truncated:  # the pool's rule: finish_reason=length and not allow_truncated
        acc = 0.0
    info.update(count=n, gold_count=n_gold)
    return Verdict(_total(acc, format_ok, format_weight), {"format": float(format_ok), "accuracy": acc},
                   "ok" if acc >= 0.5 else "wrong", reason, str(n), info)


def _located_count(points, locations, model: Frame, gold_frame: Frame, radius_px):
    """TP / max(n, N) where a predicted point is a hit on a gold box it lies in (or a gold point
    within `radius_px`), each gold used once (Hungarian on 0/1 gains)."""
    golds = []
    for loc in locations:
        nums = numbers(loc, len(loc)) if isinstance(loc, (list, tuple)) and len(loc) in (2, 4) else None
        if nums is None or (len(nums) == 4 and geo.box_problem(nums)):
            raise ValueError(f"gold location {str(loc)[:60]} is not a point or a valid box")
        golds.append(gold_frame.to_abs(nums))
    size = model.image_size
    radius = radius_px if radius_px is not None else (0.05 * max(size) if size else 140.0)
    pts = [model.to_abs(p) if p is not None else None for p in points]
    gain = [[float(p is not None and geo.inside_image(p, size) and (
        geo.in_box(p, g) if len(g) == 4 else geo.distance(p, g) <= radius)) for g in golds] for p in pts]
    hits = sum(1 for i, j in best_matching(gain) if gain[i][j] > 0)
    return hits / max(len(points), len(golds)), {"true_positives": hits}
