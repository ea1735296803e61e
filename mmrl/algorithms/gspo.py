"""GSPO (arXiv 2507.18071; algorithms.md §5): one importance ratio per response, the geometric
mean of its token ratios s_i = exp(mean_t log r_t), clipped with a tiny range (3e-4 / 4e-4), and a
mean over sequences. No KL, no dual clip.

"gspo" uses s_i itself (its gradient flows through every token's log-prob, weight 1/|o_i|);
"gspo_token" uses s_i,t = sg[s_i] * exp(lp_t - sg[lp_t]) so per-token advantages are possible. Both
use seq-mean-token-mean, which turns the per-token copies of a sequence's loss back into one term
per sequence; with outcome advantages the two are equal in value and gradient.
"""
from __future__ import annotations

from typing import Literal

from torch import Tensor

from .base import Algorithm, Coef, EpsHigh, EpsLow, Params, register
from .core import log_ratio, sequence_mean

LOG_SEQ_RATIO_MAX = 10.0   # verl clamps log s_i,t <= 10


class GSPOParams(Params):
    eps_low: EpsLow = 3e-4
    eps_high: EpsHigh = 4e-4
    loss_agg_mode: Literal["seq-mean-token-mean"] = "seq-mean-token-mean"   # forced, as in verl
    beta: Coef = 0.0


def log_sequence_ratio(logp: Tensor, old_logp: Tensor, mask: Tensor) -> Tensor:
    """log s_i [B, 1] in fp32 (bf16 rounding alone can exceed a 3e-4 clip range); 0 if empty."""
    return sequence_mean(log_ratio(logp, old_logp), mask.float())[:, None]


@register("gspo")
class GSPO(Algorithm):
    Params = GSPOParams

    def ratio(self, logp: Tensor, old_logp: Tensor, mask: Tensor) -> Tensor:
        log_s = log_sequence_ratio(logp, old_logp, mask).clamp(max=LOG_SEQ_RATIO_MAX)
        return log_s.exp().expand_as(logp)


@register("gspo_token")
class GSPOToken(GSPO):
    def ratio(self, logp: Tensor, old_logp: Tensor, mask: Tensor) -> Tensor:
        log_s = log_sequence_ratio(logp, old_logp, mask).detach()
        lp = logp.float()
        return (log_s + lp - lp.detach()).clamp(max=LOG_SEQ_RATIO_MAX).exp()
