"""The training loop (algorithms.md §0.5), one step as data flowing through:

sampler -> prompts (+ images) -> rollout engine (n samples per prompt) -> verifier pool -> rewards
-> log-probs (old, reference, masked image) -> advantages -> token-budgeted micro-batches on the
DeepSpeed engine -> optimizer step -> weight sync into the rollout engine -> metrics/checkpoint.

Every step reseeds python/numpy/torch from (seed, step, rank), so a resumed run replays exactly
the steps an uninterrupted run would have taken (given deterministic kernels and sampling).
"""
from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from . import checkpoint as ckpt
from .batch import Batch, Row
from .distributed import accelerator_env, rank_and_world, single_rank_env
from .engine import build_policy, build_reference, full_named_parameters
from .metrics import MetricsLogger
from .rewards import score_responses
from ..curriculum import fill_batch
from ..curriculum.step import StepCurriculum

SUMMED = {"pg_loss", "kl", "loss", "kl_prcp", "entropy_ori", "entropy_mask"}  # partial sums per micro-batch


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, recipe):
        self.recipe = recipe
        self.rank, self.world = rank_and_world()
        self.run_dir = recipe.run_dir
        self.step = 0

    # ------------------------------------------------------------------ set-up

    def setup(self) -> None:
        r = self.recipe
        accelerator_env()
        if "RANK" not in os.environ:
            single_rank_env()
        self.rank, self.world = rank_and_world()
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # the step lines stay readable
        from ..rollout.threads import set_threads
        set_threads(r.training.threads)
        if r.training.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        seed_all(r.training.seed)
        self.samples = self._load_data()

        from mmrl_verifiers import VerifierPool  # before any engine threads exist (fork safety)
        names = {s.get("verifier") or r.data.default_verifier for s in self.samples}
        self.pool = VerifierPool(workers=r.verifiers.workers, preload=tuple(sorted(names)))

        from ..algorithms import build_algorithm
        self.algo = build_algorithm(r.algorithm.name, max_new_tokens=r.rollout.max_new_tokens, **r.algorithm.params)
        self.algo.check_group_size(r.rollout.n)

        import deepspeed
        from ..models import load_policy, resolve_model, torch_dtype
        self.model_dir = resolve_model(r.backbone.model)
        self.dtype = torch_dtype(r.backbone.dtype)
        deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")
        model, self.processor = load_policy(self.model_dir, self.dtype,
                                            gradient_checkpointing=r.backbone.gradient_checkpointing)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.vlm = hasattr(self.processor, "image_processor")
        self.engine = build_policy(r, model, self.dtype)
        self.ref = None
        if self.algo.needs_reference:
            self.ref = build_reference(r, load_policy(self.model_dir, self.dtype)[0], self.dtype)

        from ..data import StepSampler
        self.sampler = StepSampler(len(self.samples), r.rollout.prompts_per_step, self.rank, self.world,
                                   r.training.seed, r.data.shuffle)
        self.curriculum = StepCurriculum(r.curriculum, self.samples, self.sampler, self.algo, r.training.seed,
                                         self.rank)
        resume_from = ckpt.find_resume(self.run_dir, r.checkpoint.resume)
        if resume_from is not None:
            state = ckpt.load(self.engine, resume_from, self.rank)
            self.step = state["step"]
            self.algo.load_state_dict(state.get("algorithm", {}))
            self.curriculum.load_state_dict(state.get("curriculum", {}))
            self._say(f"resumed from {resume_from} at step {self.step}")
            if self.step >= r.training.steps:
                self._say(f"already at step {self.step} of training.steps={r.training.steps}: nothing to train "
                          "(raise training.steps to continue)")
        self.rollout = self._build_rollout()
        self.logger = MetricsLogger(self.run_dir, r.training.steps, self.step, r.logging, enabled=self.rank == 0)
        if self.rank == 0:
            (self.run_dir / "recipe.yaml").write_text(r.to_yaml())

    def _load_data(self) -> list[dict]:
        from ..data import check_keys, load_samples
        from ..data.generate import generate_split_files
        d = self.recipe.data
        train, held = self.recipe.resolve_path(d.train), self.recipe.resolve_path(d.held_out)
        if d.generate is not None:
            train, held = generate_split_files(d.generate, self.run_dir / "data")
        if train is None:
            raise UserError("recipe: data.train or data.generate must be set")
        samples = load_samples(train)
        check_keys(samples, train, d)
        self.image_root, self.train_file = train.parent, train
        self.held_out = []
        if held is not None and self.recipe.logging.eval_samples:
            self.held_out = load_samples(held)[:self.recipe.logging.eval_samples]
            check_keys(self.held_out, held, d)
        return samples

    def _build_rollout(self):
        from ..rollout import build_engine
        r = self.recipe
        pixels = dict(min_pixels=r.backbone.min_pixels, max_pixels=r.backbone.max_pixels)
        if r.rollout.engine == "hf" and r.training.zero_stage != 3:  # share the trainer's weights: no sync
            return build_engine("hf", self.model_dir, model=self.engine.module, processor=self.processor, **pixels)
        if r.rollout.engine == "hf":
            engine = build_engine("hf", self.model_dir, dtype=self.dtype, **pixels)
        else:
            engine = build_engine("vllm", self.model_dir, dtype=r.rollout.dtype, threads=r.training.threads,
                                  kv_cache_gb=r.rollout.kv_cache_gb, seed=r.training.seed + self.rank,
                                  max_model_len=r.data.max_prompt_tokens + r.rollout.max_new_tokens, **pixels)
        engine.sync_weights(full_named_parameters(self.engine.module, r.training.zero_stage))
        return engine

    # ------------------------------------------------------------------ the loop

    def run(self) -> dict:
        r = self.recipe
        try:
            self.setup()
            before = self.evaluate() if self.step == 0 else {}
            if before:
                self.logger.log(0, before)
            while self.step < r.training.steps:
                self.step += 1
                metrics = self.train_step(self.step)
                every = r.logging.eval_every
                if (every and self.step % every == 0) or self.step == r.training.steps:
                    metrics.update(self.evaluate())
                self.logger.log(self.step, metrics)
                every = r.checkpoint.every
                if (every and self.step % every == 0) or self.step == r.training.steps:
                    self.save()
            summary = self.logger.close(self.run_dir)
            if r.checkpoint.export:
                self.export(self.run_dir / "hf")
            return summary
        finally:
            self.close()

    def close(self) -> None:
        for part in ("pool", "rollout"):
            if getattr(self, part, None) is not None:
                getattr(self, part).close()

    def save(self) -> None:
        state = {"algorithm": self.algo.state_dict(), "sampler": self.sampler.state_dict(self.step),
                 "curriculum": self.curriculum.state_dict()}
        ckpt.save(self.engine, self.run_dir, self.step, state, self.rank, self.recipe.checkpoint.keep)

    def export(self, out: Path) -> None:
        named = full_named_parameters(self.engine.module, self.recipe.training.zero_stage)
        if self.rank == 0:
            ckpt.export_hf(self.engine.module, self.processor, named, out)
            self._say(f"exported an HF model folder to {out}")

    def _say(self, text: str) -> None:
        if self.rank == 0:
            print(f"mmrl train: {text}", flush=True)

    # ------------------------------------------------------------------ one step

    def train_step(self, step: int) -> dict:
        r = self.recipe
        seed_all(r.training.seed * 1_000_003 + step * 1009 + self.rank)
        timings, t0 = {"time/rollout": 0.0, "time/reward": 0.0}, time.perf_counter()
        counts = defaultdict(int)
        from ..rollout import SamplingConfig
        sampling = SamplingConfig(n=r.rollout.n, temperature=r.rollout.temperature, top_p=r.rollout.top_p,
                                  max_new_tokens=r.rollout.max_new_tokens,
                                  seed=torch.randint(0, 2**31 - 1, ()).item() if r.rollout.engine == "hf" else None)
        rows, completions, accuracies, round_metrics, all_groups = [], [], [], [], []

        def generate_round(k: int) -> list[list[int]]:
            """One generation round (more only with dynamic sampling); its groups as row positions."""
            first, group_base = len(rows), k * r.rollout.prompts_per_step
            prompts = self._prompts(self.curriculum.indices(step, k, r.rollout.prompts_per_step), counts)
            new_rows, new_completions, new_acc, m = self._rollout_round(prompts, sampling, group_base, timings)
            rows.extend(new_rows), completions.extend(new_completions), accuracies.extend(new_acc)
            round_metrics.append(m)
            found = _groups(rows, first)
            all_groups.extend(found)
            return found

        kept_groups, ds_metrics = fill_batch(generate_round, lambda g: [accuracies[i] for i in g],
                                             r.rollout.prompts_per_step, self.curriculum.max_rounds,
                                             self.curriculum.rule)
        clpo_metrics = {}
        if r.curriculum.clpo.enabled:  # rewrites of hard/medium prompts, mixed in (CLPO)
            kept_groups, clpo_metrics = self._clpo(all_groups, sampling, timings, counts,
                                                   rows, completions, accuracies, round_metrics)
        rewards = [row.reward for row in rows]
        metrics = {**_merge_rounds(round_metrics), **{f"data/{k}": v for k, v in counts.items()}, **clpo_metrics}
        if r.curriculum.dynamic_sampling.enabled:
            metrics.update(ds_metrics)
        metrics["groups/kept"] = len(kept_groups)
        metrics["groups/dropped"] = len(_groups(rows)) - len(kept_groups)
        metrics["reward/mean"] = _mean([x for x in rewards if x is not None])
        metrics["accuracy"] = _mean([a for a in accuracies if a is not None])
        lengths = [len(c.token_ids) for c in completions]
        metrics["response/length_mean"] = _mean(lengths)
        metrics["response/length_max"] = max(lengths, default=0)
        metrics["response/truncation_rate"] = _mean([c.finish_reason == "length" for c in completions])

        kept = [rows[i] for g in kept_groups for i in g]
        if kept:
            metrics.update(self._update(Batch(kept, self.tokenizer.pad_token_id or 0), timings))
        else:
            metrics["update/skipped"] = 1
        metrics.update(self.curriculum.learn([row.prompt_key for row in rows],
                                             [getattr(row, "advantage", 0.0) for row in rows]))
        t = time.perf_counter()
        if not (r.rollout.engine == "hf" and r.training.zero_stage != 3):
            self.rollout.sync_weights(full_named_parameters(self.engine.module, r.training.zero_stage))
        timings["time/sync"] = time.perf_counter() - t
        timings["time/step"] = time.perf_counter() - t0
        metrics.update(timings)
        metrics["throughput/tokens_per_s"] = sum(lengths) / timings["time/step"]
        metrics["throughput/rollout_tokens_per_s"] = sum(lengths) / max(timings["time/rollout"], 1e-9)
        metrics["lr"] = self.engine.get_lr()[0]
        return _mean_over_ranks(metrics)

    def evaluate(self) -> dict:
        """Held-out accuracy with greedy decoding (one answer per prompt), this rank's share."""
        if not self.held_out:
            return {}
        from ..rollout import SamplingConfig
        t = time.perf_counter()
        mine = list(range(self.rank, len(self.held_out), self.world))
        prompts = self._prompts(mine, defaultdict(int), self.held_out, masked=False)
        sampling = SamplingConfig(n=1, temperature=0.0, max_new_tokens=self.recipe.rollout.max_new_tokens)
        outputs = self.rollout.generate([p["request"] for p in prompts], sampling)
        rewards, acc, _ = score_responses(self.pool, [p["sample"] for p in prompts], [o[0] for o in outputs],
                                          self.recipe.data, self.recipe.verifiers)
        judged = [a for a in acc if a is not None]
        return _mean_over_ranks({"eval/accuracy": _mean(judged), "eval/reward": _mean(x for x in rewards if x is not None),
                                 "eval/judged": len(judged), "time/eval": time.perf_counter() - t})

    def _prompts(self, indices: list[int], counts: dict, samples: list[dict] | None = None,
                 masked: bool = True) -> list[dict]:
        """Chat prompts (+ images, + PAPO's masked images) for the step's samples; bad images and
        over-long prompts are handled by the recipe's policy and counted."""
        from ..data import chat_prompt, images_or_skip
        from ..models import encode_prompt
        from ..rollout import GenRequest
        r, d = self.recipe, self.recipe.data
        out = []
        for index in indices:
            sample = (samples or self.samples)[index]
            images = images_or_skip(sample, d, self.image_root, f"#{index} of {self.train_file}")
            if images is None:
                counts["skipped_bad_image"] += 1
                continue
            if images and not self.vlm:
                raise UserError(f"sample #{index} has images but {self.model_dir} is a text-only model")
            text = chat_prompt(self.processor, sample, d, len(images))
            pixels = (r.backbone.min_pixels, r.backbone.max_pixels)
            encoded = encode_prompt(self.processor, text, images, *pixels)
            if encoded["input_ids"].shape[1] > d.max_prompt_tokens:
                counts["skipped_long_prompt"] += 1
                continue
            item = {"index": index, "sample": sample, "encoded": encoded, "request": GenRequest(text, images)}
            if masked and self.algo.needs_masked_image:
                rng = random.Random(hash((r.training.seed, index, self.step)))
                masked = [self.algo.mask_image(im, rng) for im in images]
                item["masked"] = encode_prompt(self.processor, text, masked, *pixels) if images else encoded
            out.append(item)
        return out

    def _clpo(self, groups, sampling, timings, counts, rows, completions, accuracies, round_metrics):
        """CLPO's rewrite pass (mmrl/curriculum/clpo_step.py) with this trainer's engine calls."""
        from ..curriculum import CLPOConfig
        from ..curriculum.clpo_step import clpo_mix
        from ..rollout import GenRequest, SamplingConfig
        c, d = self.recipe.curriculum.clpo, self.recipe.data
        cfg = CLPOConfig(c.hard_max, c.medium_max, c.rewrite, c.rewrite_temperature, c.rewrite_max_tokens,
                         kl_scale_hard=c.kl_scale_hard)

        def rewrite(instructions: list[str]) -> list[str]:
            chat = [GenRequest(self.processor.apply_chat_template([{"role": "user", "content": text}],
                                                                  tokenize=False, add_generation_prompt=True))
                    for text in instructions]
            params = SamplingConfig(n=1, temperature=cfg.rewrite_temperature, max_new_tokens=cfg.rewrite_max_tokens,
                                    seed=sampling.seed)
            t = time.perf_counter()
            outs = self.rollout.generate(chat, params)
            timings["time/clpo_rewrite"] = time.perf_counter() - t
            return [o[0].text for o in outs]

        def rollout(rewritten: list[dict], original_index: list[int]) -> list[list[int]]:
            prompts = self._prompts(range(len(rewritten)), counts, rewritten)
            position = [p["index"] for p in prompts]  # over-long rewrites are skipped
            for p in prompts:
                p["index"] = original_index[p["index"]]  # a rewrite stands for its original sample
            first, base = len(rows), 1 + max((row.group for row in rows), default=0)
            new_rows, new_completions, new_acc, m = self._rollout_round(prompts, sampling, base, timings)
            rows.extend(new_rows), completions.extend(new_completions), accuracies.extend(new_acc)
            round_metrics.append(m)
            by_group = {rows[g[0]].group: g for g in _groups(rows, first)}
            out = [[] for _ in rewritten]
            for k, pos in enumerate(position):
                out[pos] = by_group.get(base + k, [])
            return out

        return clpo_mix(cfg, groups, rows, accuracies, self.samples, d.gold_key, d.prompt_key, rewrite, rollout)

    def _rollout_round(self, prompts: list[dict], sampling, group_base: int, timings: dict):
        """Generate n responses per prompt and score them -> (rows with rewards, completions,
        accuracies, reward metrics). Group ids start at `group_base` (unique across rounds)."""
        r = self.recipe
        t = time.perf_counter()
        outputs = self.rollout.generate([p["request"] for p in prompts], sampling) if prompts else []
        timings["time/rollout"] += time.perf_counter() - t
        rows, samples, completions = [], [], []
        for g, (p, outs) in enumerate(zip(prompts, outputs)):
            for c in outs:
                if not c.token_ids:  # nothing generated: nothing to train on
                    continue
                rows.append(Row(group_base + g, p["index"], p["encoded"], list(c.token_ids), list(c.logprobs),
                                c.finish_reason, p.get("masked")))
                samples.append(p["sample"])
                completions.append(c)
        t = time.perf_counter()
        rewards, accuracies, metrics = score_responses(self.pool, samples, completions, r.data, r.verifiers)
        timings["time/reward"] += time.perf_counter() - t
        for row, reward in zip(rows, rewards):
            row.reward = reward
        return rows, completions, accuracies, metrics

    # ------------------------------------------------------------------ the update

    def _logprobs(self, model, batch: Batch, idx: list[int], masked: bool = False, grad: bool = False,
                  entropy: bool = False):
        from ..models.logprobs import token_logprobs
        input_ids, attention, completion, mm = batch.inputs(idx, masked)
        with torch.set_grad_enabled(grad):
            out = token_logprobs(model, input_ids, attention, completion, mm or None,
                                 self.recipe.rollout.temperature, with_entropy=entropy)
        if entropy:
            return batch.to_response(idx, out[0]), batch.to_response(idx, out[1])
        return batch.to_response(idx, out), None

    def _no_grad_logprobs(self, model, batch: Batch, budget: int, masked: bool = False) -> torch.Tensor:
        out = torch.zeros(len(batch), batch.T)
        for idx in batch.micro_batches(budget):
            out[idx] = self._logprobs(model, batch, idx, masked)[0].float()
        return out

    def _update(self, batch: Batch, timings: dict) -> dict:
        from ..algorithms import LossScale
        r, algo = self.recipe, self.algo
        budget = r.training.micro_batch_tokens
        mask = batch.response_mask()
        policy = self.engine.module
        t = time.perf_counter()
        old = self._no_grad_logprobs(policy, batch, budget)
        ref = self._no_grad_logprobs(self.ref.module, batch, budget) if self.ref is not None else None
        masked = self._no_grad_logprobs(policy, batch, budget, masked=True) if algo.needs_masked_image else None
        timings["time/logprobs"] = time.perf_counter() - t
        gap = (batch.rollout_logprobs() - old).abs() * mask
        metrics = {"logprob_gap/mean": float(gap.sum() / mask.sum().clamp(min=1)), "logprob_gap/max": float(gap.max())}

        rewards = torch.tensor([row.reward for row in batch.rows], dtype=torch.float32)
        rewards = algo.shape_rewards(rewards, mask.sum(-1))
        groups = torch.tensor([row.group for row in batch.rows])
        adv, adv_metrics = algo.advantages(rewards, groups, mask, prompt_keys=[row.prompt_key for row in batch.rows],
                                           old_logp=old, ref_logp=ref)
        metrics.update({f"advantage/{k}": v for k, v in adv_metrics.items()})
        seq_adv = (adv * mask).sum(-1) / mask.sum(-1).clamp(min=1) if adv.dim() == 2 else adv
        for row, a in zip(batch.rows, seq_adv.tolist()):
            row.advantage = a  # the response's sequence advantage (DUMP's learnability signal)
        kl_scale = torch.tensor([getattr(row, "kl_scale", 1.0) for row in batch.rows])  # CLPO: 0.5 on hard
        has_image = torch.tensor([row.masked_prompt is not None and "pixel_values" in row.prompt for row in batch.rows])

        t = time.perf_counter()
        sums, weights = defaultdict(float), defaultdict(float)
        order = sorted(range(len(batch)), key=lambda i: batch.rows[i].group)
        minis = [order[k::r.training.mini_batches] for k in range(r.training.mini_batches)]
        n_steps = 0
        for _ in range(r.training.ppo_epochs):
            for mini in (m for m in minis if m):
                scale = LossScale.of(mask[mini])
                mini_batch = Batch([batch.rows[i] for i in mini], batch.pad_id)
                mini_batch.T = batch.T
                micros = mini_batch.micro_batches(budget)
                for k, micro in enumerate(micros):
                    rows = [mini[i] for i in micro]
                    logp, ent = self._logprobs(policy, mini_batch, micro, grad=True, entropy=algo.needs_entropy)
                    loss, m = algo.loss(logp, old[rows], adv[rows], mask[rows],
                                        ref_logp=None if ref is None else ref[rows], entropy=ent,
                                        masked_logp=None if masked is None else masked[rows],
                                        has_image=has_image[rows], scale=scale,
                                        kl_scale=kl_scale[rows] if r.curriculum.clpo.enabled else None)
                    self.engine.set_gradient_accumulation_boundary(k == len(micros) - 1)
                    self.engine.backward(loss)
                    self.engine.step()
                    tokens = float(mask[rows].sum())
                    for key, v in m.items():
                        if key in SUMMED:
                            sums[key] += float(v)
                            weights[key] = 1.0
                        else:
                            sums[key] += float(v) * tokens
                            weights[key] += tokens
                n_steps += 1
        timings["time/update"] = time.perf_counter() - t
        for key in sums:
            metrics[key] = sums[key] / (n_steps if key in SUMMED else max(weights[key], 1e-9))
        metrics["update/optimizer_steps"] = n_steps
        metrics["update/micro_batches"] = len(batch.micro_batches(budget))
        return metrics


def _groups(rows: list[Row], first: int = 0) -> list[list[int]]:
    """The groups of rows[first:] as lists of row positions (judged responses only)."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(first, len(rows)):
        if rows[i].reward is not None:
            groups[rows[i].group].append(i)
    return list(groups.values())


def _merge_rounds(per_round: list[dict]) -> dict:
    """Reward metrics of several generation rounds: counts add up, rates average."""
    keys = set().union(*per_round) if per_round else set()
    counted = ("verdict/", "reward/unjudged")
    return {k: (sum if k.startswith(counted) else _mean)([m[k] for m in per_round if k in m]) for k in keys}


def _mean(values) -> float:
    values = list(values)
    return float(sum(values) / len(values)) if values else 0.0


def _mean_over_ranks(metrics: dict) -> dict:
    import torch.distributed as dist
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return metrics
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, metrics)
    keys = set().union(*gathered)
    # counts absent on a rank are zeros there; rates absent on a rank (no such verifier) are not
    counted = ("verdict/", "data/", "reward/unjudged", "groups/")
    return {k: _mean(g.get(k, 0) for g in gathered) if k.startswith(counted)
            else _mean(g[k] for g in gathered if k in g) for k in sorted(keys)}
