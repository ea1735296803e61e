"""The training loop (algorithms.md §0.5). One step is one straight line (docs/architecture.md):

    groups  = generate + score (curriculum.select: sampler or curriculum -> rollouts.groups -> group rule,
              refill rounds, rewrite passes)             mmrl/curriculum/step.py, train/rollouts.py
    metrics = update(groups)   declared inputs -> advantages -> micro-batches -> optimizer steps
                                                               mmrl/train/update.py
    sync -> log                weights into the rollout engine; metrics, checkpoint

Every step reseeds python/numpy/torch from (seed, step, rank), so a resumed run replays exactly
the steps an uninterrupted run would have taken (given deterministic kernels and sampling).
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..tools.metrics import ToolUse, tool_metrics
from . import checkpoint as ckpt
from .distributed import accelerator_env, init_distributed, rank_and_world, single_rank_env
from .engine import build_policy, build_reference, full_named_parameters, zero_stage
from .metrics import MetricsLogger
from .records import Group
from .rollouts import Rollouts
from .sample_log import SampleLog
from .signal import SignalWatch
from .timer import Timer
from .update import Models, Updater
from ..curriculum.step import StepCurriculum


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
        self.signal = SignalWatch()

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
        set_threads(r.training.cpu_threads)
        if r.training.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        seed_all(r.training.seed)
        self.samples = self._load_data()

        from mmrl_verifiers import VerifierPool  # before any engine threads exist (fork safety)
        names = {s.get("verifier") or r.data.default_verifier for s in self.samples}
        self.pool = VerifierPool(workers=r.verifiers.workers, preload=tuple(sorted(names)))

        from ..algorithms import build_algorithm
        self.algo = build_algorithm(r.algorithm.name, max_new_tokens=r.rollout.max_new_tokens,
                                    correction=r.algorithm.rollout_correction, **r.algorithm.params)
        self.algo.check_group_size(r.rollout.n)

        from ..models import load_policy, resolve_model, torch_dtype
        self.model_dir = resolve_model(r.backbone.model)
        self.dtype = torch_dtype(r.backbone.dtype)
        init_distributed()
        model, self.processor = load_policy(self.model_dir, self.dtype,
                                            gradient_checkpointing=r.backbone.gradient_checkpointing)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.vlm = hasattr(self.processor, "image_processor")
        self.engine = build_policy(r, model, self.dtype)
        self.zero_stage = zero_stage(r.training, self.dtype)  # auto resolved once, as the engine was built
        if r.training.zero_stage == "auto":
            self._say(f"training.zero_stage: auto -> {self.zero_stage} "
                      f"({r.training.ranks} rank(s), {str(self.dtype).removeprefix('torch.')})")
        ref = None
        if "ref_logp" in self.algo.needs():
            ref = build_reference(r, load_policy(self.model_dir, self.dtype)[0], self.dtype)
        self.update = Updater(Models(self.engine, ref), self.algo, r.training, r.rollout.temperature,
                              self.tokenizer.pad_token_id or 0)

        from ..data import StepSampler
        self.sampler = StepSampler(len(self.samples), r.rollout.prompts_per_step, self.rank, self.world,
                                   r.training.seed, r.data.shuffle)
        self.curriculum = StepCurriculum(r.curriculum, self.samples, self.sampler, self.algo, r.training.seed,
                                         self.rank, r.rollout.prompts_per_step, (r.data.prompt_key, r.data.gold_key))
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
        self.sample_log = SampleLog(self.run_dir, self.step, r.data.gold_key, enabled=self.rank == 0)
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
        if r.rollout.engine == "hf" and self.zero_stage != 3:  # share the trainer's weights: no sync
            return build_engine("hf", self.model_dir, model=self.engine.module, processor=self.processor, **pixels)
        if r.rollout.engine == "hf":
            engine = build_engine("hf", self.model_dir, dtype=self.dtype, **pixels)
        else:
            from ..rollout.vllm import KVNeed
            kv = r.rollout.kv_cache_gb
            if kv == "auto":
                kv = KVNeed(r.rollout.prompts_per_step, r.rollout.n, self._prompt_bound(), r.rollout.max_new_tokens)
            engine = build_engine("vllm", self.model_dir, dtype=r.rollout.dtype, threads=r.training.cpu_threads,
                                  kv_cache=kv, seed=r.training.seed + self.rank,
                                  max_model_len=r.data.max_prompt_tokens + r.rollout.max_new_tokens,
                                  max_images=1 + (r.tools.max_turns - 1 if r.tools else 0),  # a tool turn may show one (zoom)
                                  **pixels)
        engine.sync_weights(full_named_parameters(self.engine.module, self.zero_stage))
        return engine

    def _prompt_bound(self) -> int:
        """The longest prompt the KV cache must hold: the longest training prompt in tokens when all
        are text and single-turn (a prompt's image tokens and tool turns are not known up front: then
        data.max_prompt_tokens). Sizing to the data rather than the bound frees most of the cache;
        a longer prompt later (a rewrite) only makes vLLM run fewer sequences at once."""
        from ..data import chat_prompt
        d = self.recipe.data
        if self.recipe.tools or any(s.get(d.image_key) for s in self.samples):
            return d.max_prompt_tokens
        texts = [chat_prompt(self.processor, s, d) for s in self.samples]
        longest = max(map(len, self.tokenizer(texts, add_special_tokens=False)["input_ids"]))
        return min(longest, d.max_prompt_tokens)

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
                if (every and self.step % every == 0) or (r.checkpoint.final and self.step == r.training.steps):
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
        named = full_named_parameters(self.engine.module, self.zero_stage)
        if self.rank == 0:
            ckpt.export_hf(self.engine.module, self.processor, named, out)
            self._say(f"exported an HF model folder to {out}")

    def _say(self, text: str) -> None:
        if self.rank == 0:
            print(f"mmrl train: {text}", flush=True)

    # ------------------------------------------------------------------ one step

    def train_step(self, step: int) -> dict:
        r = self.recipe
        seed = r.training.seed * 1_000_003 + step * 1009 + self.rank
        seed_all(seed)
        timer = Timer()
        rollouts = self._rollouts(self._sampling(), timer, seed)
        groups, generated, metrics = self.curriculum.select(step, rollouts)
        self.sample_log.write(step, "train", generated[:r.logging.samples])
        self.rollout.release()  # the engine idles until the sync below: its weights and cache make way
        metrics.update(self.update(groups, timer) if groups else {"update/skipped": 1})
        if warning := self.signal.check(step, generated, metrics):
            self._say(warning)
        metrics.update(self.curriculum.learn(generated))
        with timer("sync"):
            self._sync()
        return _mean_over_ranks({**metrics, **step_metrics(groups, generated, rollouts), **timer.metrics(),
                                 "lr": self.engine.get_lr()[0]}, self.algo.reduction)

    def _sampling(self, greedy: bool = False):
        from ..rollout import SamplingConfig
        r = self.recipe.rollout
        if greedy:
            return SamplingConfig(n=1, temperature=0.0, max_new_tokens=r.max_new_tokens)
        return SamplingConfig(n=r.n, temperature=r.temperature, top_p=r.top_p, max_new_tokens=r.max_new_tokens,
                              seed=torch.randint(0, 2**31 - 1, ()).item() if r.engine == "hf" else None)

    def _rollouts(self, sampling, timer: Timer, seed: int, samples: list[dict] | None = None) -> Rollouts:
        """The engine interface of one step (training samples) or of an evaluation (held-out samples,
        no masked images: evaluation trains nothing)."""
        masks = samples is None and bool({"masked_logp", "masked_logp_grad"} & self.algo.needs())
        return Rollouts(self.rollout, self.pool, self.processor, self.recipe, samples or self.samples, self.image_root,
                        str(self.train_file), sampling, timer, self.algo.mask_image if masks else None, seed)

    def _sync(self) -> None:
        r = self.recipe
        if not (r.rollout.engine == "hf" and self.zero_stage != 3):  # that engine shares the weights
            self.rollout.sync_weights(full_named_parameters(self.engine.module, self.zero_stage))

    def evaluate(self) -> dict:
        """Held-out accuracy with greedy decoding (one answer per prompt), this rank's share."""
        if not self.held_out:
            return {}
        timer = Timer()
        rollouts = self._rollouts(self._sampling(greedy=True), timer, 0, self.held_out)
        groups = rollouts.groups(list(range(self.rank, len(self.held_out), self.world)))
        self.sample_log.write(self.step, "held_out", groups)
        judged = [resp for g in groups for resp in g.judged]
        return _mean_over_ranks({**held_out_metrics(judged), "time/eval": timer.metrics()["time/step"]})


def held_out_metrics(judged: list) -> dict:
    """eval/accuracy averages the verifier's accuracy part, which some verifiers grade (grounding:
    the IoU; AEPO: 1/sqrt(N k) or -1/N); eval/correct is the share its verdict calls correct
    (status "ok": an equal answer, IoU >= 0.5, a click inside the box)."""
    return {"eval/accuracy": _mean(x.accuracy for x in judged), "eval/correct": _mean(x.status == "ok" for x in judged),
            "eval/reward": _mean(x.reward for x in judged), "eval/judged": len(judged)}


def step_metrics(groups: list[Group], generated: list[Group], rollouts: Rollouts) -> dict:
    """What the step generated and kept: rewards, accuracy, lengths, counts, throughput."""
    responses = [x for g in generated for x in g.responses]
    judged = [x for x in responses if x.judged]
    lengths = [len(x.tokens) for x in responses]
    seconds = rollouts.timer.seconds
    return {**_merge_rounds(rollouts.verdict_metrics), **{f"data/{k}": v for k, v in rollouts.counts.items()},
            "groups/kept": len(groups), "groups/dropped": len([g for g in generated if g.judged]) - len(groups),
            "reward/mean": _mean(x.reward for x in judged), "accuracy": _mean(x.accuracy for x in judged),
            "response/length_mean": _mean(lengths), "response/length_max": max(lengths, default=0),
            "response/truncation_rate": _mean(x.finish_reason == "length" for x in responses),
            "throughput/tokens_per_s": sum(lengths) / max(time.perf_counter() - rollouts.timer.start, 1e-9),
            "throughput/rollout_tokens_per_s": sum(lengths) / max(seconds.get("rollout", 0.0), 1e-9),
            **step_tool_metrics(responses)}


def step_tool_metrics(responses: list) -> dict:
    """Tool use of the step's responses (only when any response made a call or took several turns)."""
    if not any(x.turns > 1 or x.tool_calls for x in responses):
        return {}
    uses = [ToolUse(x.tool_calls, x.tool_errors, x.tool_seconds, x.turns, x.reward if x.judged else None)
            for x in responses]
    return {f"tools/{k}": v for k, v in tool_metrics(uses).items()}


def _merge_rounds(per_round: list[dict]) -> dict:
    """Reward metrics of several generation rounds: counts add up, rates average."""
    keys = set().union(*per_round) if per_round else set()
    counted = ("verdict/", "reward/unjudged")
    return {k: (sum if k.startswith(counted) else _mean)([m[k] for m in per_round if k in m]) for k in keys}


def _mean(values) -> float:
    values = [float(v) for v in values]
    return float(sum(values) / len(values)) if values else 0.0


def _mean_over_ranks(metrics: dict, reduction=lambda key: "mean") -> dict:
    """Counts and rates averaged over ranks; metrics an algorithm declares "min"/"max" take those."""
    import torch.distributed as dist
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return metrics
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, metrics)
    keys = set().union(*gathered)
    # counts absent on a rank are zeros there; rates absent on a rank (no such verifier) are not
    counted = ("verdict/", "data/", "reward/unjudged", "groups/")
    pick = {"min": min, "max": max}
    return {k: _mean(g.get(k, 0) for g in gathered) if k.startswith(counted)
            else pick.get(reduction(k), _mean)([g[k] for g in gathered if k in g]) for k in sorted(keys)}
