"""GMPO (arXiv 2507.20673; algorithms-2026.md §3). Delta from GRPO: one ratio per sequence, the
geometric mean of its token ratios after a one-sided clip in log space (PPO's pessimistic min):

    d'_t  = min(d_t, clip(d_t, -eps_low, eps_high)) if A_i > 0 else max(d_t, clip(...)),  d = log r
    rho_i = exp(mean_t d'_t),   L_i = -A_i * rho_i,   L = mean_i L_i   ("seq-mean", fixed)

An outlier token moves rho_i only through exp(d_t / n_i), where GRPO's token-mean moves by exp(d_t).
A_i is the masked mean of the sequence's advantages (verl). Defaults eps 0.4 / 0.4 (official
script, verl example, TRL), no KL. A rollout correction's token weights are folded into one weight
per sequence by their geometric mean (verl): w_i = exp(sum_t log(w_t + 1e-10) / (n_i + 1e-8)).
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor

from .base import Algorithm, Coef, Params, register
from .core import LossScale, log_ratio, sequence_mean
from .inputs import LossInputs

LogEps = Annotated[float, Field(gt=0)]


class GMPOParams(Params):
    unread: ClassVar[frozenset[str]] = frozenset({"dual_clip_c"})
    eps_low: LogEps = 0.4       # log space: ratio >= exp(-eps_low) binds when A < 0
    eps_high: LogEps = 0.4      # ratio <= exp(eps_high) binds when A > 0
    # The token-level modes are not offered: the loss is one term per sequence by definition.
    loss_agg_mode: Literal["seq-mean-token-mean"] = "seq-mean-token-mean"
    beta: Coef = 0.0


@register("gmpo")
class GMPO(Algorithm):
    Params = GMPOParams
    metric_reductions = {"seq_ratio": "sum"}   # sum_i rho_i / N_seq of the mini-batch

    def policy_loss(self, x: LossInputs, mask: Tensor, weight: Tensor | None, agg, scale: LossScale
                    ) -> tuple[Tensor, dict[str, float]]:
        p = self.params
        d = log_ratio(x.logp, x.old_logp)
        adv = sequence_mean(x.advantages.to(d.dtype), mask)[:, None]           # A_i [B, 1]
        bounded = d.clamp(-p.eps_low, p.eps_high)
        clipped_d = torch.where(adv > 0, torch.minimum(d, bounded), torch.maximum(d, bounded))
        n = mask.sum(-1)
        rho = sequence_mean(clipped_d, mask).exp()                               # [B]
        per_seq = -adv[:, 0] * rho
        if weight is not None:
            log_w = (torch.log(weight.to(d.dtype) + 1e-10) * mask).sum(-1) / (n + 1e-8)
            per_seq = per_seq * log_w.exp()
        per_seq = per_seq * (n > 0)                                              # empty rows: no term
        seqs = max(scale.seqs, 1.0)
        valid = mask > 0
        clip = (clipped_d != d) & valid
        return per_seq.sum() / seqs, {
            "clip_frac": float(clip.sum() / valid.sum().clamp(min=1)),
            "seq_ratio": float((rho.detach() * (n > 0)).sum() / seqs)}
