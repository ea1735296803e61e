"""NGRPO (arXiv 2509.18851; algorithms.md §8): every group's statistics include n_virtual extra
samples with the maximum reward, so all-wrong groups get a negative advantage; asymmetric clip
0.16 / 0.24; token-mean; entropy bonus 0.001; no KL; all-correct groups are dropped."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field
from torch import Tensor

from ..curriculum import GroupFilter
from .base import AggMode, Algorithm, Coef, EpsHigh, EpsLow, Params, register
from .core import group_mean_std


class NGRPOParams(Params):
    eps_low: EpsLow = 0.16
    eps_high: EpsHigh = 0.24
    loss_agg_mode: AggMode = "token-mean"
    beta: Coef = 0.0
    entropy_coef: Coef = 0.001
    max_reward: float = 1.0                                   # R_max: the best achievable reward
    n_virtual: Annotated[int, Field(ge=1)] = 1
    drop_all_correct: bool = True


@register("ngrpo")
class NGRPO(Algorithm):
    Params = NGRPOParams

    @property
    def group_filter(self):
        # keep -1 < acc < 1: every group except the all-correct ones (all-wrong groups now teach)
        return GroupFilter(low=-1.0, high=1.0) if self.params.drop_all_correct else None

    def group_stats(self, rewards: Tensor, group_ids: Tensor) -> tuple[Tensor, Tensor]:
        p = self.params
        return group_mean_std(rewards, group_ids, p.std_ddof, p.max_reward, p.n_virtual)
