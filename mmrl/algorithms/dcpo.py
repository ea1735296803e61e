"""DCPO (arXiv 2509.02333; algorithms.md §7): clip bounds that depend on each token's old
probability q (dynamic-adaptive clipping), smooth advantage standardization (SAS) that blends the
current group's statistics with the prompt's statistics over all its previous visits (state kept
per prompt key and saved in checkpoints), and the "only token mean" loss. No KL."""
from __future__ import annotations

import math
from typing import Any, Hashable, Sequence

import torch
from torch import Tensor

from .base import AggMode, Algorithm, Coef, DualClip, EpsHigh, Params, register
from .core import group_index

BOUND_CAP = 10.0   # upper bound cap max(c, 10): protects q -> 0


class DCPOParams(Params):
    eps_high: EpsHigh = 0.28               # official run_dcpo.sh (README table: 0.16 / 0.2)
    dual_clip_c: DualClip = 10.0
    # SPEC CHOICE §7: OTM = the README's per-response token sum averaged over responses.
    loss_agg_mode: AggMode = "seq-mean-token-sum"
    beta: Coef = 0.0


def dynamic_bounds(q: Tensor, eps_low: float, eps_high: float, cap: float) -> tuple[Tensor, Tensor]:
    """Ratio bounds from bounding |(p/q - 1) p| <= eps: low = 0.5 + 0.5 sqrt(max(1 - 4 eps_low/q, 0)),
    high = min(0.5 + 0.5 sqrt(1 + 4 eps_high/q), cap). q = 0 gives (0.5, cap)."""
    low = 0.5 + 0.5 * (1 - 4 * eps_low / q).clamp(min=0).sqrt()
    high = (0.5 + 0.5 * (1 + 4 * eps_high / q).sqrt()).clamp(max=cap)
    return low, high


def _standardize(r: Tensor, mu: float, sigma: float, by_std: bool) -> Tensor:
    if not by_std:
        return r - mu
    return (r - mu) / sigma if sigma > 0 else torch.zeros_like(r)   # no eps (DCPO code)


def sas(rewards: Tensor, state: tuple[float, float, int], ddof: int = 1, by_std: bool = True
        ) -> tuple[Tensor, tuple[float, float, int]]:
    """Smooth advantage standardization of one group's rewards given the prompt's state
    (mu_tot, sigma_tot, k = previous visits). Returns (advantages, new state)."""
    mu_tot, sigma_tot, k = state
    r = rewards.double()
    mu_new, sigma_new = float(r.mean()), float(r.std(correction=ddof))
    if k == 0:
        mu, sigma = mu_new, sigma_new
    else:
        mu = (k * mu_tot + mu_new) / (k + 1)
        sigma = math.sqrt((k * sigma_tot ** 2 + sigma_new ** 2 + k / (k + 1) * (mu_new - mu_tot) ** 2) / (k + 1))
    a_new, a_tot = _standardize(r, mu_new, sigma_new, by_std), _standardize(r, mu, sigma, by_std)
    sa_new = (k * a_new + a_tot) / (k + 1)
    sa_tot = (a_new + k * a_tot) / (k + 1)
    return torch.where(sa_new.abs() < sa_tot.abs(), sa_new, sa_tot), (mu, sigma, k + 1)


@register("dcpo")
class DCPO(Algorithm):
    Params = DCPOParams

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.prompt_stats: dict[str, tuple[float, float, int]] = {}   # prompt key -> (mu, sigma, k)

    def ratio_bounds(self, old_logp: Tensor) -> tuple[Tensor, Tensor]:
        p = self.params
        cap = max(p.dual_clip_c or BOUND_CAP, BOUND_CAP)
        return dynamic_bounds(old_logp.float().exp(), p.eps_low, p.eps_high, cap)

    def sequence_advantages(self, rewards: Tensor, group_ids: Tensor,
                            prompt_keys: Sequence[Hashable] | None) -> Tensor:
        if prompt_keys is None or len(prompt_keys) != len(rewards):
            raise ValueError("dcpo needs prompt_keys: one stable key per sample (e.g. the prompt's dataset "
                             "index), to carry each prompt's reward statistics across visits")
        index, sizes = group_index(group_ids)
        adv = torch.zeros(len(rewards), dtype=torch.float64)
        for g in range(len(sizes)):
            members = (index == g).nonzero().squeeze(1)
            key = str(prompt_keys[int(members[0])])
            state = self.prompt_stats.get(key, (0.0, 0.0, 0))
            adv[members], self.prompt_stats[key] = sas(rewards[members], state, self.params.std_ddof,
                                                        self.params.norm_by_std)
        return adv

    def state_dict(self) -> dict[str, Any]:
        return {"prompt_stats": {k: list(v) for k, v in self.prompt_stats.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.prompt_stats = {str(k): (float(m), float(s), int(n)) for k, (m, s, n) in state["prompt_stats"].items()}
