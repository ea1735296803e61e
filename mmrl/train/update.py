"""The update phase: groups in, optimizer steps and metrics out.

The algorithm declares what it needs (mmrl/algorithms/inputs.py); this module supplies each input
from one provider table and knows no method by name. Per-step inputs are computed once before the
optimizer steps (no gradient); per-micro-batch inputs come from the same forward as the loss (or a
second forward with gradient: the masked-image prompt).

On-policy shortcut: with one epoch and one mini-batch the loss sees the weights that generated the
batch, so pi_old = pi_theta. The separate no-grad pass for old log-probs is then skipped and the
training forward's own detached log-probs serve as old (the ratio is exactly 1, as it would be
from the extra pass; the gradient is the same).

Shared prompt: with text prompts, a micro-batch's rows are a group's responses behind one copy of
their prompt (mmrl/models/shared_prompt.py); the numbers are the unshared rows'.

Zero-advantage responses: when the loss is the policy term alone (Algorithm.inert_at_zero_advantage),
a response whose advantage is 0 on every token (a group whose rewards are all equal) adds exactly 0
to the gradient, so it is left out of the forward and backward. The normalizers stay the whole
mini-batch's, so the gradient is the dense update's; the update's metrics cover the rows trained.
"""
from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass

import torch

from ..algorithms import LossInputs
from ..models.logprobs import packed_logprobs, token_logprobs
from ..rollout.gap import logprob_gap
from .batch import Batch
from .records import Group
from .timer import Timer


@dataclass
class Models:
    policy: object           # the DeepSpeed engine being trained
    reference: object | None  # a frozen DeepSpeed engine (when "ref_logp" is declared)


def _reward_parts(batch: Batch) -> torch.Tensor:
    """[B, K] the reward's components in a fixed (sorted) order; a part a response lacks is 0."""
    names = sorted({k for _, r in batch.rows for k in r.reward_parts})
    return torch.tensor([[r.reward_parts.get(k, 0.0) for k in names] for _, r in batch.rows], dtype=torch.float32)


# Per-step inputs: computed once for the whole batch ([B, T] or [B]) before the optimizer steps.
STEP_PROVIDERS = {
    "ref_logp": lambda u, b: u.no_grad_logprobs(u.models.reference.module, b),
    "masked_logp": lambda u, b: u.no_grad_logprobs(u.models.policy.module, b, masked=True),
    "rollout_logp": lambda u, b: b.rollout_logprobs(),
    "kl_weight": lambda u, b: b.per_response(lambda g, r: r.kl_weight),
    "reward_parts": lambda u, b: _reward_parts(b),
}
# Per-micro-batch inputs with gradient: computed beside the loss's own forward.
MICRO_PROVIDERS = {
    "entropy": lambda u, b, micro, fwd: fwd[1],
    "masked_logp_grad": lambda u, b, micro, fwd: u.logprobs(u.models.policy.module, b, micro, masked=True,
                                                            grad=True)[0],
}
MICRO_FIELD = {"entropy": "entropy", "masked_logp_grad": "masked_logp"}
ADVANTAGE_INPUTS = ("ref_logp", "reward_parts")  # the per-step inputs advantages() may read


class MetricMerge:
    """Micro-batch metrics -> one number per step, by each metric's declared reduction: "sum" (a
    share of the mini-batch: add, then average over optimizer steps), "token_mean" (weighted by valid
    tokens), "min"/"max"."""

    def __init__(self, reduction):
        self.reduction, self.values, self.weights = reduction, {}, defaultdict(float)

    def __call__(self, metrics: dict, tokens: float) -> None:
        for key, v in metrics.items():
            how, v = self.reduction(key), float(v)
            if how in ("min", "max"):
                self.values[key] = (min if how == "min" else max)(self.values.get(key, v), v)
            else:
                self.values[key] = self.values.get(key, 0.0) + v * (1.0 if how == "sum" else tokens)
                self.weights[key] += tokens

    def result(self, optimizer_steps: int) -> dict:
        out = {}
        for key, v in self.values.items():
            how = self.reduction(key)
            out[key] = v if how in ("min", "max") else v / (optimizer_steps if how == "sum"
                                                              else max(self.weights[key], 1e-9))
        return out


@contextlib.contextmanager
def train_mode(module):
    """transformers checkpoints layers only in train mode (from_pretrained returns eval mode, and
    the HF engine generates in it); dropout is off (load_policy), so the function is the same."""
    was = module.training
    module.train()
    try:
        yield
    finally:
        module.train(was)


class Updater:
    def __init__(self, models: Models, algo, training, temperature: float, pad_id: int):
        self.models, self.algo, self.training, self.temperature, self.pad_id = models, algo, training, temperature, pad_id
        unknown = algo.needs() - set(STEP_PROVIDERS) - set(MICRO_PROVIDERS) - {"old_logp"}
        if unknown:
            raise ValueError(f"algorithm '{algo.name}' needs {sorted(unknown)}, which the trainer cannot supply")

    @property
    def on_policy(self) -> bool:
        t = self.training
        return t.ppo_epochs == 1 and t.mini_batches == 1 and "old_logp" not in self.algo.needs() \
            and t.reuse_logprobs

    # ------------------------------------------------------------------ forwards

    def shares_prompt(self, batch: Batch) -> bool:
        return self.training.share_prompt and batch.shareable

    def micro_batches(self, batch: Batch, rows: list[int] | None = None) -> list[list[list[int]]]:
        """Per micro-batch, its rows of responses: a group's responses sharing one prompt copy when
        training.share_prompt is on and no response shows images of its own (mmrl/models/shared_prompt.py), else
        one response per row."""
        budget = self.training.micro_batch_tokens
        if self.shares_prompt(batch):
            return batch.shared_micro_batches(budget, rows)
        return [[[i] for i in micro] for micro in batch.micro_batches(budget, rows)]

    def logprobs(self, model, batch: Batch, micro: list[list[int]], masked=False, grad=False, entropy=False):
        """Response log-probs [b, T] (and entropy [b, T] or None) of a micro-batch's responses, in
        flattened row order, under `model`. masked=True: under the masked-image prompts (PAPO)."""
        rows = [i for row in micro for i in row]
        with torch.set_grad_enabled(grad):
            if self.shares_prompt(batch):
                out = packed_logprobs(model, batch.packed(micro, masked), (len(rows), batch.T), self.temperature,
                                      with_entropy=entropy)
                return out if entropy else (out, None)
            x = batch.inputs(rows, masked)
            out = token_logprobs(model, x["input_ids"], x["attention_mask"], x["completion_mask"], x["mm_inputs"],
                                 self.temperature, with_entropy=entropy)
        if entropy:
            return batch.to_response(rows, out[0]), batch.to_response(rows, out[1])
        return batch.to_response(rows, out), None

    def inert_rows(self, adv: torch.Tensor, mask: torch.Tensor) -> set[int]:
        """Rows the update may leave out: advantage 0 on every token, under a loss for which that
        means exactly zero gradient (training.skip_zero_advantage)."""
        if not (self.training.skip_zero_advantage and self.algo.inert_at_zero_advantage):
            return set()
        return set(torch.nonzero(((adv * mask) == 0).all(-1)).flatten().tolist())

    def no_grad_logprobs(self, model, batch: Batch, masked: bool = False) -> torch.Tensor:
        out = torch.zeros(len(batch), batch.T)
        for micro in self.micro_batches(batch):
            out[[i for row in micro for i in row]] = self.logprobs(model, batch, micro, masked)[0].float()
        return out

    # ------------------------------------------------------------------ the phase

    def __call__(self, groups: list[Group], timer: Timer) -> dict:
        algo, t, engine = self.algo, self.training, self.models.policy
        batch = Batch(groups, self.pad_id)
        mask, need = batch.response_mask(), algo.needs()
        with timer("logprobs"):
            old = None if self.on_policy else self.no_grad_logprobs(engine.module, batch)
            given = {name: STEP_PROVIDERS[name](self, batch) for name in sorted(need) if name in STEP_PROVIDERS}

        rewards = algo.shape_rewards(batch.per_response(lambda g, r: r.reward), mask.sum(-1))
        adv, adv_metrics = algo.advantages(rewards, batch.group_ids(), mask,
                                           prompt_keys=[batch.group_of(i).key for i in range(len(batch))],
                                           old_logp=old, **{k: given[k] for k in ADVANTAGE_INPUTS if k in given})
        metrics = {f"advantage/{k}": v for k, v in adv_metrics.items()}
        seq_adv = (adv * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # advantages are [B, T]
        for (_, response), a in zip(batch.rows, seq_adv.tolist()):
            response.advantage = a
        has_image = torch.tensor([batch.group_of(i).has_image for i in range(len(batch))])
        per_row = {k: v for k, v in given.items() if k != "reward_parts"}
        rollout = given["rollout_logp"] if "rollout_logp" in given else batch.rollout_logprobs()

        merge, n_steps, n_micro = MetricMerge(algo.reduction), 0, 0
        trainer_logp = torch.zeros(len(batch), batch.T)  # detached, for the gap metric
        inert, trained = self.inert_rows(adv, mask), torch.zeros(len(batch), dtype=torch.bool)
        order = sorted(range(len(batch)), key=lambda i: batch.rows[i][0])
        minis = [m for k in range(t.mini_batches) if (m := order[k::t.mini_batches])]
        with timer("update"), train_mode(engine.module):
            for epoch in range(t.ppo_epochs):
                for mini in minis:
                    scale = algo.loss_scale(mask[mini], None if old is None else old[mini], rollout[mini])
                    # When every row is inert one (the shortest) still runs: the optimizer steps on a zero
                    # gradient as the dense update would (Adam's moments move on).
                    kept = [i for i in mini if i not in inert] or [min(mini, key=lambda i: int(mask[i].sum()))]
                    trained[kept] = True
                    micros = self.micro_batches(batch, kept)
                    real = len(micros)
                    n_micro += real
                    micros += [micros[-1]] * (_most_over_ranks(real) - real)  # repeats, their loss times 0
                    for k, micro in enumerate(micros):
                        rows = [i for row in micro for i in row]
                        fwd = self.logprobs(engine.module, batch, micro, grad=True, entropy="entropy" in need)
                        logp = fwd[0]
                        if old is None and k < real:  # on-policy: this forward's log-probs are pi_old
                            trainer_logp[rows] = logp.detach().float()
                        extra = {MICRO_FIELD[n]: MICRO_PROVIDERS[n](self, batch, micro, fwd)
                                 for n in sorted(need) if n in MICRO_PROVIDERS}
                        x = LossInputs(logp, logp.detach() if old is None else old[rows], adv[rows], mask[rows],
                                       has_image=has_image[rows], **{n: v[rows] for n, v in per_row.items()}, **extra)
                        loss, m = algo.loss(x, scale)
                        engine.set_gradient_accumulation_boundary(k == len(micros) - 1)
                        engine.backward(loss if k < real else loss * 0.0)
                        engine.step()
                        if k < real:
                            merge(m, float(mask[rows].sum()))
                    n_steps += 1
        metrics.update(merge.result(n_steps))
        gap = logprob_gap(rollout, trainer_logp if old is None else old, mask * trained[:, None])
        metrics.update({"logprob_gap/mean": gap["logprob_gap_mean"], "logprob_gap/max": gap["logprob_gap_max"],
                        "update/optimizer_steps": n_steps,
                        "update/micro_batches": n_micro / t.ppo_epochs,
                        "update/shared_prompt": int(self.shares_prompt(batch)),
                        "update/on_policy_reuse": int(old is None),
                        "update/skipped_rows": 1.0 - float(trained.float().mean())})
        return metrics


def _most_over_ranks(count: int) -> int:
    """The largest micro-batch count of any rank. Under ZeRO-3 every forward gathers the parameters,
    a collective, so all ranks must run as many micro-batches; the others repeat their last one."""
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_world_size() == 1:
        return count
    n = torch.tensor([count])
    dist.all_reduce(n, op=dist.ReduceOp.MAX)
    return int(n)
