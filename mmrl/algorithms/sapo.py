"""SAPO (Qwen, arXiv 2511.20347; algorithms-2026.md §2). Delta from GRPO: a soft gate replaces the
clip. Per token, with tau = tau_pos if A > 0 else tau_neg,

    L_t = -A_t * f(r_t),   f(r) = 4/tau * sigmoid(tau (r - 1))

so at r = 1 the gradient is the on-policy -A, and it decays smoothly (never to a hard zero) as r
leaves 1; tau_neg > tau_pos damps negative-advantage tokens more. Defaults tau_pos 1.0, tau_neg
1.05 (verl, TRL, EasyR1), seq-mean-token-mean (the paper's 1/G sum_i 1/|y_i|; verl forces it,
here it stays a knob: EasyR1 uses token-mean), no KL. eps_low/eps_high/dual_clip_c are not read
(setting one is an error).
"""
from __future__ import annotations

from typing import Annotated, ClassVar

import torch
from pydantic import Field
from torch import Tensor

from .base import Algorithm, Coef, Params, register
from .inputs import LossInputs

Temperature = Annotated[float, Field(gt=0)]


class SAPOParams(Params):
    unread: ClassVar[frozenset[str]] = frozenset({"eps_low", "eps_high", "dual_clip_c"})
    tau_pos: Temperature = 1.0
    tau_neg: Temperature = 1.05
    beta: Coef = 0.0


@register("sapo")
class SAPO(Algorithm):
    Params = SAPOParams

    def token_loss(self, x: LossInputs) -> tuple[Tensor, dict[str, Tensor]]:
        adv = x.advantages.float()
        r = self.ratio(x.logp, x.old_logp, x.mask.float())
        tau = torch.where(adv > 0, self.params.tau_pos, self.params.tau_neg).to(r.dtype)
        gate = torch.sigmoid(tau * (r - 1)) * 4 / tau
        return -gate * adv, {}
