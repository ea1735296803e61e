"""DAPO (arXiv 2503.14476; algorithms.md §4): clip-higher (eps_high 0.28), token-mean loss, no KL,
dual clip 10 (verl recipe), soft overlong punishment added to the reward, and dynamic sampling
(groups whose accuracy is all-0 or all-1 are dropped by mmrl.curriculum before training)."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator
from torch import Tensor

from ..curriculum import GroupFilter
from .base import AggMode, Algorithm, Coef, DualClip, EpsHigh, Params, register


class DAPOParams(Params):
    eps_high: EpsHigh = 0.28
    dual_clip_c: DualClip = 10.0
    loss_agg_mode: AggMode = "token-mean"
    beta: Coef = 0.0
    dynamic_sampling: bool = True
    overlong_shaping: bool = True
    overlong_max_length: Annotated[int, Field(gt=0)] = 20480   # L_max: set to the generation budget
    overlong_buffer: Annotated[int, Field(gt=0)] = 4096        # L_cache: the soft-penalty zone
    overlong_penalty: Coef = 1.0

    @model_validator(mode="after")
    def _buffer_fits(self) -> "DAPOParams":
        if self.overlong_buffer > self.overlong_max_length:
            raise ValueError(f"overlong_buffer ({self.overlong_buffer}) must not exceed "
                             f"overlong_max_length ({self.overlong_max_length})")
        return self


def overlong_penalty(lengths: Tensor, max_length: int, buffer: int, factor: float = 1.0) -> Tensor:
    """R_len: 0 up to L_max - L_cache, then linear down to -factor at L_max, -factor beyond."""
    over = (lengths.double() - (max_length - buffer)) / buffer
    return -factor * over.clamp(0.0, 1.0)


@register("dapo")
class DAPO(Algorithm):
    Params = DAPOParams

    @classmethod
    def budget_defaults(cls, max_new_tokens: int) -> dict:
        # L_max is the generation cap; the soft zone keeps the paper's 4096 / 20480 = 1/5 share.
        return {**super().budget_defaults(max_new_tokens), "overlong_max_length": max_new_tokens,
                "overlong_buffer": max(1, min(4096, max_new_tokens // 5))}

    @property
    def group_filter(self):
        return GroupFilter() if self.params.dynamic_sampling else None   # keep 0 < acc < 1

    def shape_rewards(self, rewards: Tensor, response_lengths: Tensor) -> Tensor:
        p = self.params
        if not p.overlong_shaping:
            return rewards
        penalty = overlong_penalty(response_lengths, p.overlong_max_length, p.overlong_buffer, p.overlong_penalty)
        return (rewards.double() + penalty).to(rewards.dtype)
