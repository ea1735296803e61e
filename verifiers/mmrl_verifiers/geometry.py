"""Box and point geometry in continuous pixel coordinates (boxes are [x1, y1, x2, y2]).

No ±1 pixel convention: VLM-R1's inclusive-pixel IoU scores a 1-pixel-wide box against itself
as 0 (verifiers.md §5.2)."""
from __future__ import annotations

import math
from typing import Sequence

Box = Sequence[float]
Point = Sequence[float]


def _inter_union(a: Box, b: Box) -> tuple[float, float]:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    return inter, (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter


def iou(a: Box, b: Box) -> float:
    """Intersection over union; 0 when the union has no area."""
    inter, union = _inter_union(a, b)
    return inter / union if union > 0 else 0.0


def giou(a: Box, b: Box) -> float:
    """Generalized IoU (Rezatofighi et al., CVPR 2019): IoU minus the share of the boxes' hull that
    neither covers, in [-1, 1]; below 0 only for disjoint boxes, the lower the farther apart."""
    hull = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    inter, union = _inter_union(a, b)
    return (inter / union if union > 0 else 0.0) - (hull - union) / hull if hull > 0 else 0.0


def box_problem(box: Box) -> str | None:
    """Why `box` is not a usable box (None when it is): non-finite or not x2 > x1, y2 > y1.

    Inverted boxes are not swapped: a model that writes [x2, y1, x1, y2] is wrong."""
    if not all(math.isfinite(c) for c in box):
        return "the box has a non-finite coordinate"
    if not (box[2] > box[0] and box[3] > box[1]):
        return "the box needs x2 > x1 and y2 > y1 (inverted boxes are not swapped)"
    return None


def clip(box: Box, size: tuple[float, float] | None) -> list[float]:
    """`box` clipped to the image [0, W] x [0, H] (unchanged when the size is unknown)."""
    if size is None:
        return list(box)
    w, h = size
    return [min(max(box[0], 0.0), w), min(max(box[1], 0.0), h),
            min(max(box[2], 0.0), w), min(max(box[3], 0.0), h)]


def area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def centre(box: Box) -> list[float]:
    return [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]


def in_box(p: Point, box: Box, strict: bool = False) -> bool:
    """Point inside the box, edges included unless `strict` (GUI-R1 uses strict interior)."""
    if strict:
        return box[0] < p[0] < box[2] and box[1] < p[1] < box[3]
    return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]


def inside_image(p: Point, size: tuple[float, float] | None) -> bool:
    return size is None or (0 <= p[0] <= size[0] and 0 <= p[1] <= size[1])


def distance(p: Point, q: Point) -> float:
    return math.hypot(p[0] - q[0], p[1] - q[1])


def gaussian_point(p: Point, box: Box, alpha: float) -> float:
    """GUI-G² point reward: the unnormalised density of a Gaussian centred on the gold box with
    σ = alpha·(width, height), at the predicted point."""
    (cx, cy), sx, sy = centre(box), alpha * (box[2] - box[0]), alpha * (box[3] - box[1])
    dx, dy = (p[0] - cx) / sx, (p[1] - cy) / sy
    value = math.exp(-0.5 * (dx * dx + dy * dy))  # d*d, not d**2: overflows to inf, never raises
    return value if math.isfinite(value) else 0.0


def gaussian_coverage(pred_box: Box, gold_box: Box, alpha: float) -> float:
    """GUI-G² coverage reward: mass of a Gaussian centred on the predicted box (σ = alpha·size)
    that falls inside the gold box."""
    mass = 1.0
    for lo, hi in ((0, 2), (1, 3)):
        c, s = (pred_box[lo] + pred_box[hi]) / 2, alpha * (pred_box[hi] - pred_box[lo]) * math.sqrt(2)
        mass *= 0.5 * (math.erf((gold_box[hi] - c) / s) - math.erf((gold_box[lo] - c) / s))
    return mass if math.isfinite(mass) else 0.0  # 1e308-sized boxes give inf/inf
