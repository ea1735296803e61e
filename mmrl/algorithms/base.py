"""GRPO-shaped base algorithm, its parameters, and the registry every method registers into.

A method is a subclass that overrides only its delta from GRPO: parameter defaults (a `Params`
subclass), the sequence advantage, the ratio or its clip bounds, or an extra loss term.

Trainer-facing use (one optimizer step = one mini-batch, split into micro-batches):

    algo = build_algorithm("grpo", beta=0.0, correction={"mode": "seq_mis"})
    algo.needs()                                  # e.g. {"ref_logp", "kl_weight"}: what to supply
    adv, adv_metrics = algo.advantages(rewards, group_ids, mask, reward_parts=...)  # adv [B, T]
    scale = algo.loss_scale(mb_mask, mb_old_logp, mb_rollout_logp)         # once per mini-batch
    loss, metrics = algo.loss(LossInputs(logp, old_logp, adv_micro, mask_micro, ref_logp=...), scale)
    algo.reduction("kl")                          # "sum" or "token_mean": how metrics merge
"""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Hashable, Literal, Optional, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import Tensor

from ..errors import UserError, validation_lines
from dataclasses import replace

from .correction import METRIC_REDUCTIONS as CORRECTION_REDUCTIONS, Correction, RolloutCorrection, correct, \
    parse_correction
from .inputs import LossInputs, Need, Reduce
from .core import (LossScale, advantage_metrics, agg_loss, decoupled_advantages, group_index, group_mean_std,
                   kl_penalty, log_ratio, masked_mean, ppo_clip, sequence_mean)

ALGORITHMS: dict[str, type["Algorithm"]] = {}


def register(name: str):
    """Class decorator: make an algorithm selectable by `name` in recipes. A name taken by another
    class is an error (a test's throwaway method must not replace a real one); see unregister."""
    def add(cls: type[Algorithm]) -> type[Algorithm]:
        old = ALGORITHMS.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"algorithm name '{name}' is already registered by {old.__module__}.{old.__qualname__}")
        cls.name = name
        ALGORITHMS[name] = cls
        return cls
    return add


def unregister(name: str) -> None:
    """Remove a method registered by `register` (tests that define their own)."""
    ALGORITHMS.pop(name, None)


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
    # The advantage estimator. "gdpo" (algorithms-2026.md §4) replaces the method's own with the
    # reward-decoupled one: each reward component z-scored in its group, weighted, summed, then
    # z-scored over the batch's sequences. It reads the trainer's reward_parts.
    advantage: Literal["method", "gdpo"] = "method"
    reward_weights: Optional[list[float]] = None   # gdpo: one weight per reward component (None: all 1)
    adv_batch_norm: bool = True                    # gdpo: the final batch z-score
    # Shared parameters a method's loss does not read (CISPO, SAPO: no PPO clip): setting one is an
    # error rather than a silent no-op.
    unread: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _norm_length_given(self) -> "Params":
        if self.loss_agg_mode == "seq-mean-token-sum-norm" and self.norm_length is None:
            raise ValueError("loss_agg_mode 'seq-mean-token-sum-norm' needs norm_length "
                             "(the constant generation budget, e.g. rollout.max_new_tokens)")
        ignored = sorted(self.unread & self.model_fields_set)
        if ignored:
            raise ValueError(f"{', '.join(ignored)}: not read by this method's loss; remove it")
        unread = {"reward_weights", "adv_batch_norm"} & self.model_fields_set
        if self.advantage != "gdpo" and unread:
            raise ValueError(f"{', '.join(sorted(unread))} is read only with advantage 'gdpo' "
                             f"(advantage is {self.advantage!r})")
        return self


def validate_params(name: str, schema: type[Params], params: dict[str, Any]) -> Params:
    """Pydantic validation turned into a one-line UserError naming the bad key."""
    try:
        return schema(**params)
    except ValidationError as e:
        raise UserError(f"algorithm '{name}': {validation_lines(e, schema)[0]}") from None


def _check_same_shape(**tensors: Tensor) -> None:
    shapes = {k: tuple(v.shape) for k, v in tensors.items() if v is not None}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"per-token inputs must share one [B, T] shape; got {shapes}")


class Algorithm:
    name: ClassVar[str] = "grpo"
    Params: ClassVar[type[Params]] = Params
    min_group_size: ClassVar[int] = 2            # §0.2 SPEC CHOICE: G < 2 is a config error
    # How metrics merge over micro-batches (inputs.Reduce): "sum" for shares of the mini-batch,
    # "min"/"max" for extremes; any metric not listed is a token mean.
    metric_reductions: ClassVar[dict[str, Reduce]] = {"pg_loss": "sum", "kl": "sum", "loss": "sum",
                                                      **CORRECTION_REDUCTIONS}

    def __init__(self, correction: RolloutCorrection | dict | None = None, **params: Any):
        self.params = validate_params(self.name, self.Params, params)
        try:
            self.correction = parse_correction(correction)
        except ValueError as e:
            raise UserError(f"algorithm '{self.name}': {e}") from None

    def __repr__(self) -> str:
        corr = f", correction={self.correction!r}" if self.correction.enabled else ""
        return f"{type(self).__name__}({self.params!r}{corr})"

    def needs(self) -> frozenset[Need]:
        """The inputs the trainer must supply (mmrl/algorithms/inputs.py). Subclasses add theirs."""
        out: set[Need] = set()
        if self.params.beta > 0:
            out |= {"ref_logp", "kl_weight"}
        if self.params.entropy_coef > 0:
            out.add("entropy")
        if self.correction.enabled:
            out.add("rollout_logp")
        if self.correction.edits_mask:
            out.add("old_logp")   # loss_scale reads the whole mini-batch's pre-update log-probs
        if self.params.advantage == "gdpo":
            out.add("reward_parts")
        return frozenset(out)

    @property
    def inert_at_zero_advantage(self) -> bool:
        """True when a response whose advantage is 0 on every token adds exactly 0 to the loss and its
        gradient, so the update may leave it out (the mini-batch's normalizers unchanged). Every policy
        term here is a multiple of the advantage; a KL, entropy or extra term (PAPO) is not."""
        return self.params.beta == 0 and self.params.entropy_coef == 0 and type(self).extra_loss is Algorithm.extra_loss

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
                   ref_logp: Tensor | None = None, reward_parts: Tensor | None = None
                   ) -> tuple[Tensor, dict[str, float]]:
        """Advantages [B, T] (0 on padding) and their metrics, for the whole rollout batch.
        `prompt_keys` (stable per-prompt keys, e.g. dataset index) are used by DCPO; `old_logp` /
        `ref_logp` by REINFORCE++ (KL in the reward); `reward_parts` [B, K] (the reward's
        components, declared as a need) by advantage 'gdpo'."""
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
        if self.params.advantage == "gdpo":
            seq_adv, extra = self.gdpo_advantages(rewards, group_ids, reward_parts)
            adv = Algorithm.token_advantages(self, seq_adv, mask.float(), old_logp, ref_logp)
        else:
            extra = {}
            seq_adv = self.sequence_advantages(rewards, group_ids, prompt_keys)
            adv = self.token_advantages(seq_adv, mask.float(), old_logp, ref_logp)
        return adv, {**advantage_metrics(sequence_mean(adv, mask.float()), group_ids), **extra}

    def gdpo_advantages(self, rewards: Tensor, group_ids: Tensor, reward_parts: Tensor | None
                        ) -> tuple[Tensor, dict[str, float]]:
        """GDPO sequence advantages [B] (algorithms-2026.md §4). A difference between `rewards` and
        the parts' sum (reward shaping after the verifiers, e.g. DAPO's overlong penalty) joins as
        one more component of weight 1, so no part of the reward is silently dropped."""
        p = self.params
        if reward_parts is None:
            raise ValueError(f"algorithm '{self.name}' has advantage 'gdpo': pass reward_parts [B, K] "
                             "(declared need 'reward_parts')")
        parts = reward_parts.double().reshape(len(rewards), -1)
        if not torch.isfinite(parts).all():
            raise ValueError("reward_parts are not all finite; drop unjudged samples before computing advantages")
        k = parts.shape[1]
        if p.reward_weights is not None and len(p.reward_weights) != k:
            raise UserError(f"algorithm '{self.name}': reward_weights has {len(p.reward_weights)} values but "
                            f"the reward has {k} components")
        weights = list(p.reward_weights or [1.0] * k)
        residual = rewards.double() - parts.sum(-1)
        shaped = bool((residual.abs() > 1e-6).any())
        if shaped:
            parts, weights = torch.cat([parts, residual[:, None]], 1), weights + [1.0]
        seq = decoupled_advantages(parts, group_ids, torch.tensor(weights), p.std_ddof, p.eps_std,
                                   p.norm_by_std, p.adv_batch_norm)
        return seq, {"adv_components": float(parts.shape[1]), "adv_shaping_component": float(shaped)}

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

    def token_loss(self, x: LossInputs) -> tuple[Tensor, dict[str, Tensor]]:
        """Per-token policy loss [B, T] to minimise, and boolean [B, T] maps whose token means are
        metrics. GRPO: the PPO clipped surrogate on self.ratio within self.ratio_bounds."""
        low, high = self.ratio_bounds(x.old_logp)
        return ppo_clip(self.ratio(x.logp, x.old_logp, x.mask.float()), x.advantages.float(), low, high,
                        self.params.dual_clip_c)

    def policy_loss(self, x: LossInputs, mask: Tensor, weight: Tensor | None, agg, scale: LossScale
                    ) -> tuple[Tensor, dict[str, float]]:
        """The aggregated policy term and its metrics. `weight` [B, T] (detached, or None) is the
        rollout correction's; `mask` the loss mask after it. Methods whose loss is not a per-token
        sum (GMPO) override this instead of token_loss."""
        pg, flags = self.token_loss(x)
        if weight is not None:
            pg = pg * weight
        return agg(pg), {k: masked_mean(v.float(), x.mask) for k, v in flags.items()}

    def loss_scale(self, mask: Tensor, old_logp: Tensor | None = None,
                   rollout_logp: Tensor | None = None) -> LossScale:
        """The normalizers of one mini-batch (all its micro-batches together). Equal to
        LossScale.of(mask) unless the rollout correction rejects sequences (seq_geo_rs): then
        old_logp and rollout_logp [B, T] of the mini-batch are needed and rejected sequences do not count."""
        if not self.correction.edits_mask:
            return LossScale.of(mask)
        if old_logp is None or rollout_logp is None:
            raise ValueError(f"rollout_correction mode '{self.correction.mode}' removes sequences from the "
                             "denominators: pass the mini-batch's old_logp and rollout_logp to loss_scale")
        edited = correct(self.correction, old_logp, rollout_logp, mask).mask
        return replace(LossScale.of(edited), mask_edit=repr(self.correction))

    def _correction(self, x: LossInputs, scale: LossScale | None) -> Correction | None:
        if not self.correction.enabled:
            return None
        if x.rollout_logp is None:
            raise ValueError(f"rollout_correction mode '{self.correction.mode}' is on: pass rollout_logp "
                             "(declared need 'rollout_logp')")
        if self.correction.edits_mask and scale is not None and scale.mask_edit != repr(self.correction):
            raise ValueError(f"rollout_correction mode '{self.correction.mode}' edits the mask: compute the "
                             "mini-batch's scale with algo.loss_scale(mask, old_logp, rollout_logp), "
                             "not LossScale.of(mask)")
        return correct(self.correction, x.old_logp, x.rollout_logp, x.mask)

    def loss(self, x: LossInputs, scale: LossScale | None = None) -> tuple[Tensor, dict[str, float]]:
        """Loss of one micro-batch (scalar, to minimise) and its metrics.

        x.logp [B, T] has gradient; old_logp/ref_logp/rollout_logp [B, T] do not. `scale` holds the
        normalizers of the whole mini-batch (self.loss_scale(...)); None = this batch is the mini-batch.
        x.kl_weight [B]: a per-sample multiplier of the KL term (CLPO's difficulty-aware KL); None = 1.
        """
        logp, old_logp, advantages, ref_logp, entropy = x.logp, x.old_logp, x.advantages, x.ref_logp, x.entropy
        kl_scale = x.kl_weight
        _check_same_shape(logp=logp, old_logp=old_logp, advantages=advantages, mask=x.mask,
                          ref_logp=ref_logp, entropy=entropy, masked_logp=x.masked_logp,
                          rollout_logp=x.rollout_logp)
        p = self.params
        corr = self._correction(x, scale)
        mask = x.mask.float() if corr is None else corr.mask   # seq_geo_rs: rejected rows leave every term
        scale = scale or LossScale.of(mask)

        def agg(x: Tensor) -> Tensor:
            return agg_loss(x, mask, p.loss_agg_mode, scale, p.norm_length)

        total, pg_metrics = self.policy_loss(x, mask, None if corr is None else corr.weight, agg, scale)
        metrics = {"pg_loss": float(total.detach()),
                   "ppo_kl": masked_mean(old_logp.float() - logp.float(), x.mask), **pg_metrics,
                   **({} if corr is None else corr.metrics)}

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
        metrics["entropy"] = masked_mean(entropy if entropy is not None else -logp, x.mask)

        extra, extra_metrics = self.extra_loss(x, agg)
        total = total + extra
        metrics.update(extra_metrics, loss=float(total.detach()))
        return total, metrics

    # ------------------------------------------------------------ checkpointed state (DCPO)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
