"""GRPO-family advantage estimators and policy losses (specs: shared/spec/algorithms.md and
algorithms-2026.md).

    from mmrl.algorithms import build_algorithm, compute_loss, names
    algo = build_algorithm("dapo", eps_high=0.3, correction={"mode": "seq_mis"})
    loss, metrics = compute_loss("cispo", logp, old_logp, adv, mask)

Shared pieces live in core.py, the GRPO-shaped base class and registry in base.py, the rollout
mismatch correction in correction.py, and each method in its own file stating only its delta from GRPO.
"""
from __future__ import annotations

from typing import Any

from torch import Tensor

from ..errors import UserError
from . import (cispo, dapo, dcpo, dr_grpo, gdpo, gmpo, grpo, gspo, ngrpo, papo, reinforce_pp,  # noqa: F401
               rloo, sapo)  # (register)
from .base import ALGORITHMS, Algorithm, Params, register, unregister
from .core import LossScale, agg_loss, kl_penalty, ppo_clip
from .correction import RolloutCorrection
from .inputs import NEEDS, LossInputs

__all__ = ["build_algorithm", "compute_loss", "names", "Algorithm", "Params", "LossScale", "LossInputs", "NEEDS",
           "RolloutCorrection", "register", "unregister", "agg_loss", "kl_penalty", "ppo_clip"]


def names() -> list[str]:
    return sorted(ALGORITHMS)


def build_algorithm(name: str, max_new_tokens: int | None = None,
                    correction: RolloutCorrection | dict | None = None, **params: Any) -> Algorithm:
    """The algorithm registered as `name`, with `params` overriding its defaults. `max_new_tokens`
    (the rollout's generation budget) fills the length constants that must match it (Dr. GRPO's
    norm_length, DAPO's overlong_max_length) unless `params` sets them. `correction` (the recipe's
    algorithm.rollout_correction; None = off) re-weights the policy loss for the rollout engine's
    mismatch and makes the algorithm declare "rollout_logp"."""
    if name not in ALGORITHMS:
        raise UserError(f"unknown algorithm '{name}'; valid: {', '.join(names())}")
    cls = ALGORITHMS[name]
    budget = cls.budget_defaults(max_new_tokens) if max_new_tokens else {}
    return cls(correction=correction, **{**budget, **params})


def compute_loss(name: str, logp: Tensor, old_logp: Tensor, adv: Tensor, mask: Tensor, *,
                 rollout_logp: Tensor | None = None, params: dict[str, Any] | None = None,
                 correction: RolloutCorrection | dict | None = None, scale: LossScale | None = None,
                 **inputs: Any) -> tuple[Tensor, dict[str, float]]:
    """The loss of any registered method on given tensors, with no engine: for researchers and
    external tests.

    logp, old_logp, mask (and rollout_logp): [B, T]; adv: [B] (one advantage per sequence,
    broadcast over its valid tokens) or [B, T]. `params` override the method's defaults;
    `correction` is a RolloutCorrection or its dict ({"mode": "token_mis", "clip_max": 2.0}).
    Other LossInputs fields (ref_logp, entropy, masked_logp, has_image, kl_weight) go in `inputs`.
    Without ref_logp the KL term is off (beta defaults to 0 here; setting beta > 0 then is an error).
    `scale`: the normalizers of the whole mini-batch when this is one of its micro-batches
    (algo.loss_scale); None = this batch is the mini-batch.

    Returns the scalar loss (to minimise; differentiable w.r.t. logp) and the metrics of one
    micro-batch. Computed in float32, or float64 when the inputs are float64.
    """
    params = dict(params or {})
    if inputs.get("ref_logp") is None:
        params.setdefault("beta", 0.0)
    algo = build_algorithm(name, correction=correction, **params)
    mask = mask.to(logp.dtype)
    if adv.dim() == 1:
        adv = adv.to(logp.dtype)[:, None] * mask
    return algo.loss(LossInputs(logp, old_logp, adv, mask, rollout_logp=rollout_logp, **inputs), scale)
