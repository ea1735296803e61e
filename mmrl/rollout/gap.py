"""The rollout-vs-trainer log-prob gap, logged every step: a stale or mismatched rollout engine makes
"on-policy" training silently off-policy (anchors: verl#2996 and others)."""
from __future__ import annotations

import torch


def logprob_gap(rollout_logprobs: torch.Tensor, trainer_logprobs: torch.Tensor, mask: torch.Tensor) -> dict:
    """Both [B, T] on the same tokens; mask [B, T] marks completion tokens. Returns mean/max |diff|
    (nats) and the k3 estimate of KL(rollout || trainer) over the masked tokens."""
    mask = mask.bool()
    diff = (trainer_logprobs.detach().float() - rollout_logprobs.float())[mask]
    if diff.numel() == 0:
        return {"logprob_gap_mean": 0.0, "logprob_gap_max": 0.0, "rollout_kl_k3": 0.0}
    return {"logprob_gap_mean": diff.abs().mean().item(), "logprob_gap_max": diff.abs().max().item(),
            "rollout_kl_k3": (diff.exp() - 1 - diff).mean().item()}
