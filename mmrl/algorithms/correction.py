"""Rollout-training mismatch correction (spec: algorithms-2026.md §5), applied on top of any loss.

The rollout engine (vLLM, often bf16 with its own kernels) samples from pi_rollout, which is not
exactly the trainer's pi_old. The per-token ratio rho_t = pi_old / pi_rollout (from old_logp and
rollout_logp only; never logp, so the weights carry no gradient) re-weights or masks the policy
loss. KL and entropy terms are not weighted (verl, TRL).

    mode        weight w (detached)                               mask / denominators
    token_tis   clamp(rho_t, clip_min, clip_max)                  unchanged
    seq_tis     clamp(rho_seq_i, clip_min, clip_max)              unchanged
    token_mis   rho_t if clip_min <= rho_t <= clip_max else 0     unchanged (IcePop)
    seq_mis     rho_seq_i if in [clip_min, clip_max] else 0       unchanged (TRL sequence_mask)
    seq_geo_rs  1                                                 sequence removed unless rho_geo_i in geo_band

rho_seq_i = exp(sum_t log rho_t) (a product), rho_geo_i = exp(mean_t log rho_t); log-ratios are
clamped to +-20 before exp (the sequence sum after summing), as verl.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import Tensor

from ..errors import validation_lines
from .core import LOG_RATIO_CLAMP

Mode = Literal["none", "token_tis", "seq_tis", "token_mis", "seq_mis", "seq_geo_rs"]
Positive = Annotated[float, Field(gt=0)]

# Per-mode defaults (spec §5.4): TIS cap 2 (verl presets, TRL <= v0.25); Seq-MIS cap 3 (TRL's
# default with vLLM); IcePop band [0.5, 5] (verl preset, OpenRLHF); Geo-RS band [0.999, 1.001] (verl).
DEFAULTS: dict[str, dict[str, Any]] = {
    "none": {},
    "token_tis": {"clip_max": 2.0},
    "seq_tis": {"clip_max": 2.0},
    "token_mis": {"clip_min": 0.5, "clip_max": 5.0},
    "seq_mis": {"clip_max": 3.0},
    "seq_geo_rs": {"geo_band": (0.999, 1.001)},
}


class RolloutCorrection(BaseModel):
    """The recipe's `algorithm.rollout_correction` block. Unset bounds take the mode's default;
    a bound the mode does not read is an error (it would be silently ignored)."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode = "none"
    clip_min: Optional[Positive] = None    # lower bound on the weight (TIS) or of the kept band (MIS)
    clip_max: Optional[Positive] = None    # upper bound (None = unbounded)
    geo_band: Optional[tuple[Positive, Positive]] = None   # seq_geo_rs: keep lower <= rho_geo <= upper

    @model_validator(mode="before")
    @classmethod
    def _mode_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            mode = data.get("mode", "none")
            data = {**DEFAULTS.get(mode, {}), **data}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "RolloutCorrection":
        if self.mode in ("none", "seq_geo_rs") and (self.clip_min is not None or self.clip_max is not None):
            key = "clip_min" if self.clip_min is not None else "clip_max"
            raise ValueError(f"{key}: clip_min/clip_max are not read by mode {self.mode!r}; remove them")
        if self.mode != "seq_geo_rs" and self.geo_band is not None:
            raise ValueError(f"geo_band: read only by mode 'seq_geo_rs' (mode is {self.mode!r}); remove it")
        if self.clip_min is not None and self.clip_max is not None and self.clip_min >= self.clip_max:
            raise ValueError(f"clip_min: {self.clip_min} must be below clip_max ({self.clip_max})")
        if self.geo_band is not None and self.geo_band[0] >= self.geo_band[1]:
            raise ValueError(f"geo_band: {list(self.geo_band)} must be [lower, upper] with lower < upper")
        return self

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    @property
    def edits_mask(self) -> bool:
        """Rejection sampling: removed sequences leave the loss's denominators."""
        return self.mode == "seq_geo_rs"


def parse_correction(value: RolloutCorrection | dict | None, where: str = "rollout_correction") -> RolloutCorrection:
    """A RolloutCorrection from a model, a dict or None (= off); errors are one ValueError line
    naming the key."""
    if value is None:
        return RolloutCorrection()
    if isinstance(value, RolloutCorrection):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a mapping like {{mode: seq_mis}}, got {value!r}")
    try:
        return RolloutCorrection(**value)
    except ValidationError as e:
        raise ValueError(f"{where}.{validation_lines(e, RolloutCorrection)[0]}") from None


@dataclass
class Correction:
    """The correction of one micro-batch: what multiplies the policy's per-token loss."""
    weight: Tensor          # [B, T] detached, 0 on padding and on masked tokens/sequences
    mask: Tensor            # [B, T] the loss mask (the input mask unless seq_geo_rs rejected rows)
    metrics: dict[str, float]


def _clamp(x: Tensor, low: float | None, high: float | None) -> Tensor:
    return x if low is None and high is None else x.clamp(min=low, max=high)


def _in_band(x: Tensor, low: float | None, high: float | None) -> Tensor:
    keep = torch.ones_like(x, dtype=torch.bool)
    if low is not None:
        keep &= x >= low
    if high is not None:
        keep &= x <= high
    return keep


def corrected_mask(cfg: RolloutCorrection, old_logp: Tensor, rollout_logp: Tensor, mask: Tensor) -> Tensor:
    """The loss mask after rejection sampling (seq_geo_rs); the input mask for every other mode."""
    return correct(cfg, old_logp, rollout_logp, mask).mask


def correct(cfg: RolloutCorrection, old_logp: Tensor, rollout_logp: Tensor, mask: Tensor) -> Correction:
    mask = mask.float()
    log_rho = (old_logp.detach().double() - rollout_logp.detach().double()) * mask
    n = mask.sum(-1, keepdim=True)
    rho_t = log_rho.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp()
    rho_seq = log_rho.sum(-1, keepdim=True).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp().expand_as(log_rho)
    new_mask = mask
    if cfg.mode == "token_tis":
        w = _clamp(rho_t, cfg.clip_min, cfg.clip_max)
    elif cfg.mode == "seq_tis":
        w = _clamp(rho_seq, cfg.clip_min, cfg.clip_max)
    elif cfg.mode == "token_mis":
        w = rho_t * _in_band(rho_t, cfg.clip_min, cfg.clip_max)
    elif cfg.mode == "seq_mis":
        w = rho_seq * _in_band(rho_seq, cfg.clip_min, cfg.clip_max)
    elif cfg.mode == "seq_geo_rs":
        rho_geo = (log_rho.sum(-1, keepdim=True) / n.double().clamp(min=1)).clamp(
            -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP).exp()
        new_mask = mask * _in_band(rho_geo, *cfg.geo_band).to(mask.dtype)
        w = torch.ones_like(rho_t)
    else:
        w = torch.ones_like(rho_t)
    w = (w * new_mask).to(torch.promote_types(old_logp.dtype, torch.float32))
    return Correction(weight=w, mask=new_mask, metrics=_metrics(w, mask, new_mask))


def _metrics(w: Tensor, mask: Tensor, new_mask: Tensor) -> dict[str, float]:
    """Weights over the micro-batch's response tokens; masked_frac = share of those tokens whose
    loss the correction zeroes (weight 0 or removed from the mask)."""
    valid = mask > 0
    if not valid.any():
        return {}
    wv = w.detach()[valid].double()
    return {"rollout_is_mean": float(wv.mean()), "rollout_is_min": float(wv.min()),
            "rollout_is_max": float(wv.max()),
            "rollout_masked_frac": float(((wv == 0) | (new_mask[valid] == 0)).double().mean())}


METRIC_REDUCTIONS = {"rollout_is_mean": "token_mean", "rollout_is_min": "min", "rollout_is_max": "max",
                     "rollout_masked_frac": "token_mean"}
