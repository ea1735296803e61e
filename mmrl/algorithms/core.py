"""The pieces every GRPO-family method shares (spec: /work/shared/spec/algorithms.md §0-§1).

Shapes: per-token tensors are [B, T] aligned with the response tokens; `mask` is 1 on response
tokens (EOS included) and 0 on padding; rewards and group ids are [B]. Everything is computed in
float32 (advantage statistics in float64) whatever dtype the policy runs in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

LOG_RATIO_CLAMP = 20.0   # |log pi/pi_old| bound before exp (verl/EasyR1)
K3_CLAMP = 10.0          # |k3| bound (verl/EasyR1)


# ---------------------------------------------------------------- group statistics (§0.2)

def group_index(group_ids: Tensor) -> tuple[Tensor, Tensor]:
    """Map arbitrary group ids [B] to 0..K-1; returns (index [B], group sizes [K])."""
    _, index, sizes = torch.unique(group_ids, return_inverse=True, return_counts=True)
    return index, sizes


def group_sum(values: Tensor, index: Tensor, groups: int) -> Tensor:
    return torch.zeros(groups, dtype=values.dtype, device=values.device).index_add_(0, index, values)


def group_mean_std(rewards: Tensor, group_ids: Tensor, ddof: int = 1,
                   extra_value: float = 0.0, extra_count: int = 0) -> tuple[Tensor, Tensor]:
    """Per-sample mean and std [B] of the sample's group (float64). `extra_count` copies of
    `extra_value` join every group's statistics (NGRPO's virtual maximum-reward samples)."""
    r = rewards.double()
    index, sizes = group_index(group_ids)
    n = sizes.double() + extra_count
    mean = (group_sum(r, index, len(sizes)) + extra_count * extra_value) / n
    sq_dev = group_sum((r - mean[index]) ** 2, index, len(sizes)) + extra_count * (extra_value - mean) ** 2
    std = (sq_dev / (n - ddof).clamp(min=1)).sqrt()
    return mean[index], std[index]


def masked_whiten(values: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """(x - mean) / sqrt(var_unbiased + eps) over the valid tokens of the whole batch (verl)."""
    m = mask.double()
    count = m.sum().clamp(min=1)
    mean = (values.double() * m).sum() / count
    var = (((values.double() - mean) * m) ** 2).sum() / (count - 1).clamp(min=1)
    return ((values.double() - mean) / (var + eps).sqrt() * m).float()


def sequence_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Masked mean over each row [B]; an empty row gives 0 (§0.4 zero-length rule)."""
    return (x * mask).sum(-1) / mask.sum(-1).clamp(min=1)


# ---------------------------------------------------------------- PPO clip (§0.3)

def at_least_f32(x: Tensor) -> Tensor:
    """x in float32, or float64 if it already is (bf16 log-probs are upcast; float64 research inputs kept)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def log_ratio(logp: Tensor, old_logp: Tensor) -> Tensor:
    return (at_least_f32(logp) - at_least_f32(old_logp)).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)


def ppo_clip(ratio: Tensor, adv: Tensor, low: Tensor | float, high: Tensor | float,
             dual_clip_c: float | None) -> tuple[Tensor, dict[str, Tensor]]:
    """Per-token clipped surrogate to minimise, max(-A r, -A clip(r, low, high)), plus for A < 0
    the dual clip min(., -A c). `low`/`high` are ratio bounds (1-eps_low, 1+eps_high, or DCPO's
    per-token bounds). Returns the loss [B, T] and boolean masks of where each clip binds."""
    pg = torch.maximum(-adv * ratio, -adv * torch.clamp(ratio, low, high))
    clipped = {"clip_frac_high": (adv > 0) & (ratio > high), "clip_frac_low": (adv < 0) & (ratio < low)}
    if dual_clip_c is not None:
        dual = -adv * dual_clip_c
        clipped["clip_frac_dual"] = (adv < 0) & (pg > dual)
        pg = torch.where(adv < 0, torch.minimum(pg, dual), pg)
    return pg, clipped


# ---------------------------------------------------------------- KL estimators (§1)

def _k1(d: Tensor) -> Tensor:
    return d


def _k2(d: Tensor) -> Tensor:
    return 0.5 * d ** 2


def _k3(d: Tensor) -> Tensor:
    neg = (-d).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)   # log(pi_ref / pi_theta)
    return (neg.exp() - neg - 1).clamp(-K3_CLAMP, K3_CLAMP)


def _straight_through(value_fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """Forward value of `value_fn`, gradient of k2 (verl's k1+/k3+)."""
    def kl(d: Tensor) -> Tensor:
        k2 = _k2(d)
        return k2 - k2.detach() + value_fn(d).detach()
    return kl


KL_ESTIMATORS: dict[str, Callable[[Tensor], Tensor]] = {
    "k1": _k1, "abs": lambda d: d.abs(), "k2": _k2, "k3": _k3,
    "k1+": _straight_through(_k1), "k3+": _straight_through(_k3),
}
KL_ALIASES = {"kl": "k1", "mse": "k2", "low_var_kl": "k3"}  # verl's names


def kl_penalty(logp: Tensor, ref_logp: Tensor, estimator: str) -> Tensor:
    """Per-token estimate of KL(pi_theta || pi_ref) from the sampled tokens' log-probs."""
    fn = KL_ESTIMATORS[KL_ALIASES.get(estimator, estimator)]
    return fn(logp.float() - ref_logp.float())


# ---------------------------------------------------------------- loss aggregation (§0.4)

@dataclass(frozen=True)
class LossScale:
    """Normalizers of one optimizer step (a mini-batch). Computed once from the whole mini-batch's
    mask and passed to the loss of every micro-batch, so the summed micro-batch gradients equal the
    full mini-batch gradient in every aggregation mode (§0.4 gradient accumulation)."""
    tokens: float   # valid response tokens
    seqs: float     # responses with >= 1 valid token (empty ones are not counted in N, §0.4)
    mask_edit: str = ""   # the rejection (Algorithm.loss_scale) whose edited mask gave these counts

    @classmethod
    def of(cls, mask: Tensor) -> LossScale:
        return cls(tokens=float(mask.sum()), seqs=float((mask.sum(-1) > 0).sum()))


def _token_mean(x, mask, scale, norm_length):
    return (x * mask).sum() / max(scale.tokens, 1.0)


def _seq_mean_token_mean(x, mask, scale, norm_length):
    return ((x * mask).sum(-1) / mask.sum(-1).clamp(min=1)).sum() / max(scale.seqs, 1.0)


def _seq_mean_token_sum(x, mask, scale, norm_length):
    return (x * mask).sum() / max(scale.seqs, 1.0)


def _seq_mean_token_sum_norm(x, mask, scale, norm_length):
    # SPEC CHOICE §0.4: with the 1/N of Dr. GRPO/oat (verl omits it: a constant lr factor N).
    return (x * mask).sum() / norm_length / max(scale.seqs, 1.0)


AGGREGATIONS = {
    "token-mean": _token_mean,
    "seq-mean-token-mean": _seq_mean_token_mean,
    "seq-mean-token-sum": _seq_mean_token_sum,
    "seq-mean-token-sum-norm": _seq_mean_token_sum_norm,
}


def agg_loss(x: Tensor, mask: Tensor, mode: str, scale: LossScale | None = None,
             norm_length: float | None = None) -> Tensor:
    """Aggregate a per-token loss [B, T] to a scalar with one of the four modes of §0.4."""
    mask = mask.to(x.dtype)
    return AGGREGATIONS[mode](x, mask, scale or LossScale.of(mask), norm_length)


# ---------------------------------------------------------------- GDPO advantage (algorithms-2026.md §4)

def decoupled_advantages(parts: Tensor, group_ids: Tensor, weights: Tensor, ddof: int, eps: float,
                         by_std: bool, batch_norm: bool) -> Tensor:
    """GDPO: each reward component [B, K] z-scored inside its group (mean-centred only if not
    by_std), weighted and summed, then z-scored over every sequence of the batch (ddof, eps in both
    steps). A batch of one sequence has no batch std: its advantage is 0. Returns [B] float64."""
    total = torch.zeros(parts.shape[0], dtype=torch.float64, device=parts.device)
    for k in range(parts.shape[1]):
        mean, std = group_mean_std(parts[:, k], group_ids, ddof)
        centered = parts[:, k].double() - mean
        total += float(weights[k]) * (centered / (std + eps) if by_std else centered)
    if not batch_norm:
        return total
    if len(total) < 2:
        return torch.zeros_like(total)
    return (total - total.mean()) / (total.std(correction=ddof) + eps)


# ---------------------------------------------------------------- metrics

def masked_mean(x: Tensor, mask: Tensor) -> float:
    mask = mask.float()
    return float((x.detach().float() * mask).sum() / mask.sum().clamp(min=1))


def advantage_metrics(seq_adv: Tensor, group_ids: Tensor) -> dict[str, float]:
    """Statistics of the per-response advantages [B] and the fraction of groups whose advantages
    are all zero (groups that carry no policy gradient)."""
    a = seq_adv.detach().double()
    index, sizes = group_index(group_ids)
    nonzero = group_sum((a.abs() > 1e-12).double(), index, len(sizes))
    return {"adv_mean": float(a.mean()), "adv_std": float(a.std(correction=0)),
            "adv_min": float(a.min()), "adv_max": float(a.max()),
            "zero_adv_group_frac": float((nonzero == 0).double().mean())}
