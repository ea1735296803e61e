"""GDPO (NVIDIA, arXiv 2601.05242; algorithms-2026.md §4). Delta from GRPO: the advantage only.
Each reward component (the verifier's named parts, e.g. accuracy and format, as the trainer passes
them in `reward_parts` [B, K]) is z-scored inside its group, the results are weighted
(`reward_weights`, default all 1) and summed, and the sum is z-scored over every sequence of the
batch (per sequence, as the paper and TRL; verl whitens over tokens). GRPO on the summed reward
gives (acc, fmt) = (0, 1) and (1, 0) the same advantage; GDPO does not.

The same estimator is available to every method as `advantage: gdpo` (base Params); this
registered name is GRPO's loss with it.
"""
from __future__ import annotations

from typing import Literal

from .base import Algorithm, Coef, Params, register


class GDPOParams(Params):
    advantage: Literal["method", "gdpo"] = "gdpo"
    beta: Coef = 0.0   # no KL: TRL's default (beta 0), which the GDPO authors' TRL fork builds on


@register("gdpo")
class GDPO(Algorithm):
    Params = GDPOParams
