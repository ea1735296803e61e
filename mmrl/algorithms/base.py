"""GRPO-shaped base algorithm, its parameters, and the registry every method registers into.

A method is a subclass that overrides only its delta from GRPO: parameter defaults (a `Params`
subclass), the sequence advantage, the ratio or its clip bounds, or an extra loss term.

Trainer-facing use (one optimizer step = one mini-batch, split into micro-batches):

    algo = build_algorithm("grpo", beta=0.0)
    algo.needs()                                  # e.g. {"ref_logp", "kl_weight"}: what to supply
    adv, adv_metrics = algo.advantages(rewards, group_ids, mask)          # adv [B, T]
    scale = LossScale.of(minibatch_mask)                                   # once per mini-batch
    loss, metrics = algo.loss(LossInputs(logp, old_logp, adv_micro, mask_micro, ref_logp=...), scale)
    algo.reduction("kl")                          # "sum" or "token_mean": how metrics merge
"""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Hashable, Literal, Optional, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import Tensor

from ..errors import UserError
from .inputs import LossInputs, Need, Reduce
from .core import (LossScale, advantage_metrics, agg_loss, group_index, group_mean_std, kl_penalty,
                   log_ratio, masked_mean, ppo_clip, sequence_mean)

ALGORITHMS: dict[str, type["Algorithm"]] = {}


def register(name: str):
    """Class decorator: make an algorithm selectable by `name` in recipes."""
    def add(cls: type[Algorithm]) -> type[Algorithm]:
        cls.name = name
        ALGORITHMS[name] = cls
        return cls
    return add


# Parameter types (constraints travel with the type, so subclasses only restate defaults).
EpsLow = Annotated[float, Field(gt=0, lt=1)]     # lower ratio bound 1 - eps_low stays positive
EpsHigh = Annotated[float, Field(gt=0)]
DualClip = Optional[Annotated[float, Field(gt=1)]]
Coef = Annotated[float, Field(ge=0)]
AggMode = Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"]
KLEstimator = Literal["k1", "k2", "k3", "abs", "k1+", "k3+", "kl", "mse", "low_var_kl"]


class Params(BaseModel):
    """GRPO as in the DeepSeekMath paper (algorithms.md §2, §14 first row)."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    eps_low: EpsLow = 0.2                 # PPO clip: ratio >= 1 - eps_low (binds when A < 0)
    eps_high: EpsHigh = 0.2               # ratio <= 1 + eps_high (binds when A > 0)
    dual_clip_c: DualClip = None          # for A < 0: loss <= -A * c (None = off)
    loss_agg_mode: AggMode = "seq-mean-token-mean"
    norm_length: Optional[Annotated[int, Field(gt=0)]] = None  # L_norm of seq-mean-token-sum-norm
    beta: Coef = 0.04                     # KL-to-reference coefficient (0 = no reference model)
    kl_estimator: KLEstimator = "k3"
    entropy_coef: Coef = 0.0              # L -= entropy_coef * agg(entropy)
    norm_by_std: bool = True              # A = (R - mean) / (std + eps_std); False: R - mean
    std_ddof: Literal[0, 1] = 1           # §0.2: unbiased std, as verl/EasyR1/NGRPO/DCPO code
    eps_std: Coef = 1e-6

    @model_validator(mode="after")
    def _norm_length_given(self) -> "Params":
        if self.loss_agg_mode == "seq-mean-token-sum-norm" and self.norm_length is None:
            raise ValueError("loss_agg_mode 'seq-mean-token-sum-norm' needs norm_length "
                             "(the constant generation budget, e.g. rollout.max_new_tokens)")
        return self


def validate_params(name: str, schema: type[Params], params: dict[str, Any]) -> Params:
    """Pydantic validation turned into a one-line UserError naming the bad key."""
    valid = ", ".join(schema.model_fields)
    try:
        return schema(**params)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            raise UserError(f"algorithm '{name}': unknown parameter '{key}'; valid: {valid}") from None
        got = f" (got {err['input']!r})" if key else ""
        msg = err["msg"].removeprefix("Value error, ")
        raise UserError(f"algorithm '{name}': {key + ': ' if key else ''}{msg}{got}") from None


def _check_same_shape(**tensors: Tensor) -> None:
    shapes = {k: tuple(v.shape) for k, v in tensors.items() if v is not None}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"per-token inputs must share one [B, T] shape; got {shapes}")


class Algorithm:
    name: ClassVar[str] = "grpo"
    Params: ClassVar[type[Params]] = Params
    min_group_size: ClassVar[int] = 2            # §0.2 SPEC CHOICE: G < 2 is a config error
    # Metrics that are shares of the mini-batch ("sum"); any other metric is a token mean.
    metric_reductions: ClassVar[dict[str, Reduce]] = {"pg_loss": "sum", "kl": "sum", "loss": "sum"}

    def __init__(self, **params: Any):
        self.params = validate_params(self.name, self.Params, params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    def needs(self) -> frozenset[Need]:
        """The inputs the trainer must supply (mmrl/algorithms/inputs.py). Subclasses add theirs."""
        out: set[Need] = set()
        if self.params.beta > 0:
            out |= {"ref_logp", "kl_weight"}
        if self.params.entropy_coef > 0:
            out.add("entropy")
        return frozenset(out)

    @property
    def needs_reference(self) -> bool:
        return "ref_logp" in self.needs()

    @property
    def needs_entropy(self) -> bool:
        return "entropy" in self.needs()

    def reduction(self, metric: str) -> Reduce:
        """How `metric` merges over micro-batches (inputs.py: "sum" or "token_mean")."""
        for cls in type(self).__mro__:
            if metric in cls.__dict__.get("metric_reductions", {}):
                return cls.__dict__["metric_reductions"][metric]
        return "token_mean"

    def mask_image(self, image, rng):
        """The masked copy of a prompt image, for methods that declare masked_logp (PAPO)."""
        raise NotImplementedError(f"algorithm '{self.name}' does not mask images")

    @property
    def group_filter(self):
        """Groups to drop before training (a mmrl.curriculum.GroupFilter), or None."""
        return None

    @classmethod
    def budget_defaults(cls, max_new_tokens: int) -> dict[str, Any]:
        """Parameter defaults derived from the generation budget (see build_algorithm)."""
        return {"norm_length": max_new_tokens}

    def check_group_size(self, n: int) -> None:
        if n < self.min_group_size:
            raise UserError(f"algorithm '{self.name}' needs groups of >= {self.min_group_size} samples "
                            f"per prompt (rollout.n); got {n}")

    # ------------------------------------------------------------ rewards and advantages

    def shape_rewards(self, rewards: Tensor, response_lengths: Tensor) -> Tensor:
        """Reward shaping applied after the verifiers (and after group filtering). GRPO: none."""
        return rewards

    def advantages(self, rewards: Tensor, group_ids: Tensor, mask: Tensor, *,
                   prompt_keys: Sequence[Hashable] | None = None, old_logp: Tensor | None = None,
                   ref_logp: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        """Advantages [B, T] (0 on padding) and their metrics, for the whole rollout batch.
        `prompt_keys` (stable per-prompt keys, e.g. dataset index) are used by DCPO; `old_logp` /
        `ref_logp` by REINFORCE++ (KL in the reward)."""
        if not (rewards.shape == group_ids.shape == mask.shape[:1]):
            raise ValueError(f"rewards {tuple(rewards.shape)}, group_ids {tuple(group_ids.shape)} and "
                             f"mask {tuple(mask.shape)} must agree on the batch size B")
        bad = (~torch.isfinite(rewards)).nonzero().flatten().tolist()
        if bad:
            raise ValueError(f"rewards at rows {bad[:10]} are not finite; drop unjudged samples "
                             "(verifier score None) before computing advantages")
        _, sizes = group_index(group_ids)
        if len(sizes):
            self.check_group_size(int(sizes.min()))
        seq_adv = self.sequence_advantages(rewards, group_ids, prompt_keys)
        adv = self.token_advantages(seq_adv, mask.float(), old_logp, ref_logp)
        return adv, advantage_metrics(sequence_mean(adv, mask.float()), group_ids)

    def group_stats(self, rewards: Tensor, group_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Each sample's group mean and std [B] (float64)."""
        return group_mean_std(rewards, group_ids, self.params.std_ddof)

    def sequence_advantages(self, rewards: Tensor, group_ids: Tensor,
                            prompt_keys: Sequence[Hashable] | None) -> Tensor:
        """One advantage per response [B] (float64). GRPO: the reward z-scored in its group."""
        p = self.params
        mean, std = self.group_stats(rewards, group_ids)
        centered = rewards.double() - mean
        return centered / (std + p.eps_std) if p.norm_by_std else centered

    def token_advantages(self, seq_adv: Tensor, mask: Tensor, old_logp: Tensor | None,
                         ref_logp: Tensor | None) -> Tensor:
        """Per-token advantages [B, T] (float32). Outcome methods: A_i on every valid token."""
        return (seq_adv[:, None] * mask).float()

    # ------------------------------------------------------------ policy loss

    def ratio(self, logp: Tensor, old_logp: Tensor, mask: Tensor) -> Tensor:
        """Importance ratio pi / pi_old per token [B, T]."""
        return log_ratio(logp, old_logp).exp()

    def ratio_bounds(self, old_logp: Tensor) -> tuple[Tensor | float, Tensor | float]:
        return 1 - self.params.eps_low, 1 + self.params.eps_high

    def extra_loss(self, x: LossInputs, agg) -> tuple[Tensor | float, dict[str, float]]:
        """Method-specific extra loss terms (PAPO). GRPO: none."""
        return 0.0, {}

    def loss(self, x: LossInputs, scale: LossScale | None = None) -> tuple[Tensor, dict[str, float]]:
        """Loss of one micro-batch (scalar, to minimise) and its metrics.

        x.logp [B, T] has gradient; old_logp/ref_logp [B, T] do not. `scale` holds the normalizers of
        the whole mini-batch (LossScale.of(minibatch_mask)); None = this batch is the mini-batch.
        x.kl_weight [B]: a per-sample multiplier of the KL term (CLPO's difficulty-aware KL); None = 1.
        """
        logp, old_logp, advantages, ref_logp, entropy = x.logp, x.old_logp, x.advantages, x.ref_logp, x.entropy
        kl_scale = x.kl_weight
        _check_same_shape(logp=logp, old_logp=old_logp, advantages=advantages, mask=x.mask,
                          ref_logp=ref_logp, entropy=entropy, masked_logp=x.masked_logp)
        p = self.params
        mask = x.mask.float()
        scale = scale or LossScale.of(mask)

        def agg(x: Tensor) -> Tensor:
            return agg_loss(x, mask, p.loss_agg_mode, scale, p.norm_length)

        low, high = self.ratio_bounds(old_logp)
        pg, clipped = ppo_clip(self.ratio(logp, old_logp, mask), advantages.float(), low, high, p.dual_clip_c)
        total = agg(pg)
        metrics = {"pg_loss": float(total.detach()), "ppo_kl": masked_mean(old_logp.float() - logp.float(), mask),
                   **{k: masked_mean(v.float(), mask) for k, v in clipped.items()}}

        if self.needs_reference and ref_logp is None:
            raise ValueError(f"algorithm '{self.name}' has beta > 0: pass ref_logp")
        if ref_logp is not None:
            per_token = kl_penalty(logp, ref_logp, p.kl_estimator)
            kl = agg(per_token if kl_scale is None else per_token * kl_scale[:, None].to(per_token.dtype))
            total = total + p.beta * kl
            metrics["kl"] = float(kl.detach())

        if self.needs_entropy and entropy is None:
            raise ValueError(f"algorithm '{self.name}' has entropy_coef > 0: pass entropy")
        if entropy is not None and p.entropy_coef > 0:
            total = total - p.entropy_coef * agg(entropy.float())
        # Without the full-vocabulary entropy, report its sampled estimate mean(-log p).
        metrics["entropy"] = masked_mean(entropy if entropy is not None else -logp, mask)

        extra, extra_metrics = self.extra_loss(x, agg)
        total = total + extra
        metrics.update(extra_metrics, loss=float(total.detach()))
        return total, metrics

    # ------------------------------------------------------------ checkpointed state (DCPO)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
