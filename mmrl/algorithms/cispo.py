"""CISPO (MiniMax-M1, arXiv 2506.13585; algorithms-2026.md §1). Delta from GRPO: no token is ever
dropped by clipping. The loss is REINFORCE re-weighted by the clipped, detached importance weight,

    L_t = -sg(clamp(r_t, is_clip_low, is_clip_high)) * A_t * logp_t     (gradient -w_t A_t)

token-mean, no KL. Bounds are absolute weights (SPEC CHOICE §1.3, avoiding eps vs 1+eps):
default min(r, 5.0) (TRL with epsilon_high=5 / ScaleRL; the paper has no lower bound);
is_clip_high=1.2 is verl's CISPO example, is_clip_low=0.8, is_clip_high=1.2 verl's ActorConfig
defaults, [0.8, 1.3] EasyR1's. The value of `pg_loss` contains logp itself: not comparable with GRPO's.
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Optional

from pydantic import Field, model_validator
from torch import Tensor

from .base import AggMode, Algorithm, Coef, Params, register
from .core import at_least_f32
from .inputs import LossInputs


class CISPOParams(Params):
    unread: ClassVar[frozenset[str]] = frozenset({"eps_low", "eps_high", "dual_clip_c"})
    is_clip_high: Annotated[float, Field(gt=0)] = 5.0
    is_clip_low: Optional[Annotated[float, Field(ge=0)]] = None   # None: no lower bound (paper)
    loss_agg_mode: AggMode = "token-mean"
    beta: Coef = 0.0

    @model_validator(mode="after")
    def _bounds_ordered(self) -> "CISPOParams":
        if self.is_clip_low is not None and self.is_clip_low >= self.is_clip_high:
            raise ValueError(f"is_clip_low ({self.is_clip_low}) must be below is_clip_high ({self.is_clip_high})")
        return self


@register("cispo")
class CISPO(Algorithm):
    Params = CISPOParams

    def token_loss(self, x: LossInputs) -> tuple[Tensor, dict[str, Tensor]]:
        p = self.params
        r = self.ratio(x.logp, x.old_logp, x.mask.float()).detach()
        w = r.clamp(min=p.is_clip_low, max=p.is_clip_high)
        return -w * x.advantages.float() * at_least_f32(x.logp), {"is_clip_frac": w != r}
