"""bench/versus_trl.py's TRL side, run in its own process: TRL's GRPOTrainer on the bench's data with
mmrl_verifiers' math reward, each optimizer step timed by phase. Writes one JSON record per step.

    python bench/versus_trl_trl.py --data d.jsonl --out trl.json --workdir tmp --steps 4 --n 8 ...

Phases come from TRL's own profiling hooks (trl.extras.profiling, which only reports to wandb/mlflow/
trackio, so it is recorded here by patching its logger) and a TrainerCallback for the step's wall time:
  generation  GRPOTrainer.transformers.generate (the rollout)
  reward      GRPOTrainer._calculate_rewards (our verifier pool)
  prepare     the rest of _prepare_inputs (tokenizing, advantages, old log-probs when it needs them)
  forward     GRPOTrainer.compute_loss (the training forward and the loss, every micro-batch)
  backward    the rest of the step (backward, clipping, AdamW)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="jsonl with question and answer")
    p.add_argument("--out", required=True, help="JSON file for the per-step records")
    p.add_argument("--workdir", required=True, help="TRL's output_dir (nothing is saved there)")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--prompts", type=int, required=True, help="prompts per step")
    p.add_argument("--n", type=int, required=True, help="completions per prompt (num_generations)")
    p.add_argument("--batch", type=int, required=True, help="per-device micro-batch (completions)")
    p.add_argument("--max-new-tokens", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--temperature", type=float, required=True)
    p.add_argument("--workers", type=int, required=True, help="verifier pool processes")
    p.add_argument("--options", default="{}", help="math verifier options (JSON)")
    p.add_argument("--model-dtype", default="float32", choices=["float32", "bfloat16"],
                   help="weights as loaded (bf16 compute comes from GRPOConfig.bf16 either way)")
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16", help="bf16 autocast or plain float32")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra GRPOConfig fields (YAML values), e.g. --set gradient_checkpointing=false")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch
    import yaml
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer
    from trl.extras import profiling

    from mmrl.models import resolve_model
    from mmrl_verifiers.adapters import trl_reward

    torch.set_num_threads(args.threads)
    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": r["question"]}], "answer": r["answer"]}
                              for r in rows])

    # Each profiled block: (global step when it started, name) -> seconds.
    phases: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def record(self, duration: float) -> None:
        phases[(self.step or 0) + 1][self.name] += duration

    profiling.ProfilingContext._log_metrics = record

    walls: dict[int, float] = {}

    class StepClock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.t = time.perf_counter()

        def on_step_end(self, _args, state, *a, **k):
            now = time.perf_counter()
            walls[state.global_step], self.t = now - self.t, now

    extra = {}
    for item in args.set:
        key, _, value = item.partition("=")
        extra[key] = yaml.safe_load(value)
    if args.prompts * args.n % args.batch:
        sys.exit(f"--batch {args.batch} does not divide the step's {args.prompts * args.n} completions")
    accumulation = args.prompts * args.n // args.batch
    config = GRPOConfig(
        output_dir=args.workdir, max_steps=args.steps, learning_rate=args.lr,
        # one generation of prompts x n completions per optimizer step, trained in micro-batches
        per_device_train_batch_size=args.batch, gradient_accumulation_steps=accumulation,
        num_generations=args.n, max_completion_length=args.max_new_tokens, temperature=args.temperature,
        beta=0.0, loss_type="grpo", num_iterations=1,  # mmrl's grpo: seq-mean-token-mean, one epoch
        bf16=args.precision == "bf16", gradient_checkpointing=True, use_cpu=True, use_vllm=False,
        model_init_kwargs={"dtype": args.model_dtype},
        shuffle_dataset=False, seed=0, logging_steps=1, report_to="none", save_strategy="no",
        disable_tqdm=True, dataloader_num_workers=0, **extra)
    reward = trl_reward("math", gold_column="answer", workers=args.workers, **json.loads(args.options))
    trainer = GRPOTrainer(model=str(resolve_model("smollm2-135m-instruct")), reward_funcs=[reward], args=config,
                          train_dataset=data, callbacks=[StepClock()])
    try:
        trainer.train()
    finally:
        reward.close()

    logs = {h["step"]: h for h in trainer.state.log_history if "completions/mean_length" in h}
    out = []
    for step in sorted(walls):
        p, log = phases[step], logs.get(step, {})
        gen = p.get("GRPOTrainer.transformers.generate", 0.0)
        rew = p.get("GRPOTrainer._calculate_rewards", 0.0)
        prep = p.get("GRPOTrainer._prepare_inputs", 0.0)
        fwd = p.get("GRPOTrainer.compute_loss", 0.0)
        out.append({"step": step, "time/step": walls[step], "time/generation": gen, "time/reward": rew,
                    "time/prepare": max(prep - gen - rew, 0.0), "time/forward": fwd,
                    "time/backward": max(walls[step] - prep - fwd, 0.0),
                    "completion_tokens": log.get("completions/mean_length", 0.0) * args.prompts * args.n,
                    "reward": log.get("reward")})
    model = trainer.model
    settings = {"trl": __import__("trl").__version__, "mixed_precision": str(trainer.accelerator.mixed_precision),
                "weights": str(next(model.parameters()).dtype), "torch_threads": torch.get_num_threads(),
                "gradient_checkpointing": bool(getattr(model, "is_activation_checkpointing", False)),
                "micro_batch": args.batch, "gradient_accumulation_steps": accumulation}
    Path(args.out).write_text(json.dumps({"settings": settings, "steps": out}, indent=1))


if __name__ == "__main__":
    main()
