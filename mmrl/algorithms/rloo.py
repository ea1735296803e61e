"""RLOO (arXiv 2402.14740; algorithms.md §12): baseline = mean reward of the other G-1 samples,
A_i = G/(G-1) (R_i - mean R); no std. PPO-clip with token-mean as in verl/AEPO; no KL."""
from torch import Tensor

from .base import AggMode, Algorithm, Coef, DualClip, Params, register
from .core import group_index, group_mean_std


class RLOOParams(Params):
    dual_clip_c: DualClip = 3.0
    loss_agg_mode: AggMode = "token-mean"
    beta: Coef = 0.0


@register("rloo")
class RLOO(Algorithm):
    Params = RLOOParams

    def sequence_advantages(self, rewards: Tensor, group_ids: Tensor, prompt_keys) -> Tensor:
        mean, _ = group_mean_std(rewards, group_ids)
        index, sizes = group_index(group_ids)
        g = sizes.double()[index]
        return g / (g - 1) * (rewards.double() - mean)
