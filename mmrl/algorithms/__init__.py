"""GRPO-family advantage estimators and policy losses (spec: shared/spec/algorithms.md).

    from mmrl.algorithms import build_algorithm, names
    algo = build_algorithm("dapo", eps_high=0.3)

Shared pieces live in core.py, the GRPO-shaped base class and registry in base.py, and each method
in its own file stating only its delta from GRPO.
"""
from __future__ import annotations

from typing import Any

from ..errors import UserError
from . import dapo, dcpo, dr_grpo, grpo, gspo, ngrpo, papo, reinforce_pp, rloo  # noqa: F401  (register)
from .base import ALGORITHMS, Algorithm, Params, register
from .core import LossScale, agg_loss, kl_penalty, ppo_clip
from .inputs import NEEDS, LossInputs

__all__ = ["build_algorithm", "names", "Algorithm", "Params", "LossScale", "LossInputs", "NEEDS", "register",
           "agg_loss", "kl_penalty", "ppo_clip"]


def names() -> list[str]:
    return sorted(ALGORITHMS)


def build_algorithm(name: str, max_new_tokens: int | None = None, **params: Any) -> Algorithm:
    """The algorithm registered as `name`, with `params` overriding its defaults. `max_new_tokens`
    (the rollout's generation budget) fills the length constants that must match it (Dr. GRPO's
    norm_length, DAPO's overlong_max_length) unless `params` sets them."""
    if name not in ALGORITHMS:
        raise UserError(f"unknown algorithm '{name}'; valid: {', '.join(names())}")
    cls = ALGORITHMS[name]
    budget = cls.budget_defaults(max_new_tokens) if max_new_tokens else {}
    return cls(**{**budget, **params})
