"""What an algorithm asks of the trainer, and what it receives: the contract between a method and
the training step. The trainer knows no method by name; it reads `Algorithm.needs()` and supplies
each declared input from one provider table (mmrl/train/providers.py).

Shapes: b responses in the micro-batch, T = the longest response of the whole step (per-token
tensors are aligned to each response's first generated token; 0 on padding).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal, Optional

from torch import Tensor

# Inputs a method may declare (Algorithm.needs()). The trainer computes only what is declared.
Need = Literal[
    "old_logp",          # [B, T] pre-update log-probs before the optimizer steps (advantages use them);
                         # otherwise an on-policy update may take them from its own forward
    "ref_logp",          # [b, T] reference-model log-probs of the response tokens (no gradient)
    "entropy",           # [b, T] full-vocabulary entropy of the policy at each token (with gradient)
    "masked_logp",       # [b, T] policy log-probs with the prompt's images masked, pre-update, detached
    "masked_logp_grad",  # [b, T] the same, recomputed with gradient in every micro-batch
    "rollout_logp",      # [b, T] the rollout engine's own log-probs of the sampled tokens
    "kl_weight",         # [b] per-sample multiplier of the KL term (a curriculum's difficulty weight)
    "reward_parts",      # [B, K] the reward's named components, for advantages() (GDPO)
]
NEEDS: tuple[str, ...] = Need.__args__

# How a metric reported per micro-batch becomes one number per step:
#   "sum"        the value is already a share of the mini-batch (normalised by the mini-batch's
#                LossScale): add over its micro-batches, average over optimizer steps and ranks;
#   "token_mean" a mean over the micro-batch's tokens: weight by valid tokens;
#   "min" / "max" an extreme over the micro-batch's tokens: the extreme over micro-batches, steps
#                and ranks (the rollout correction's weight range).
Reduce = Literal["sum", "token_mean", "min", "max"]


@dataclass
class LossInputs:
    """One micro-batch as the loss sees it. Optional fields are None unless declared."""
    logp: Tensor                          # [b, T] policy log-probs (with gradient)
    old_logp: Tensor                      # [b, T] log-probs before this step's update (no gradient)
    advantages: Tensor                    # [b, T]
    mask: Tensor                          # [b, T] 1 on tokens the policy generated, 0 elsewhere
    ref_logp: Optional[Tensor] = None
    entropy: Optional[Tensor] = None
    masked_logp: Optional[Tensor] = None  # detached or with gradient, as declared
    rollout_logp: Optional[Tensor] = None
    has_image: Optional[Tensor] = None    # [b] bool: the prompt carries images (always supplied)
    kl_weight: Optional[Tensor] = None    # [b]

    def rows(self, index) -> "LossInputs":
        """The same inputs restricted to rows `index` (a slice, list or bool mask)."""
        return LossInputs(**{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[index])
                             for f in fields(self)})
