"""One GRPO step on SmolLM2, end to end: rollout, reward and update timed separately, tokens per
second and peak memory, with vLLM rollouts and transformers rollouts side by side.

    .venv/bin/python bench/grpo_step.py [--steps 2] [key=value overrides of the quickstart recipe]

Each engine runs in its own process (`mmrl train recipes/quickstart.yaml` for a few steps, in-process
rank); the first step includes warm-up, so the numbers reported are the mean of the later steps.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["time/rollout", "time/reward", "time/logprobs", "time/update", "time/sync", "time/step",
        "throughput/rollout_tokens_per_s", "throughput/tokens_per_s", "response/length_mean", "logprob_gap/mean"]


def one(engine: str, steps: int, overrides: list[str], out: Path) -> dict:
    """Run in this process; report the later steps' mean metrics and this process's peak RSS."""
    from mmrl.recipe import load_recipe
    from mmrl.train import Trainer

    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml", [
        f"rollout.engine={engine}", f"training.steps={steps}", f"output_dir={out}", "logging.eval_samples=0",
        "logging.console=false", "logging.tensorboard=false", "logging.plot=false", "checkpoint.export=false",
        "checkpoint.resume=never", *overrides])
    Trainer(recipe).run()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    later = [r for r in rows if r["step"] >= 2] or rows[-1:]
    result = {k: sum(r.get(k, 0.0) for r in later) / len(later) for k in KEYS}
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--one", choices=["vllm", "hf"], help=argparse.SUPPRESS)
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            print("RESULT " + json.dumps(one(args.one, args.steps, args.overrides, Path(tmp) / "run")))
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    results = {}
    for engine in ("vllm", "hf"):
        proc = subprocess.run([sys.executable, __file__, "--one", engine, "--steps", str(args.steps), *args.overrides],
                              env=env, cwd=ROOT, capture_output=True, text=True)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"{engine} run failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        results[engine] = json.loads(line[7:])
    print(f"one GRPO step, SmolLM2-135M, quickstart recipe {' '.join(args.overrides)} (mean of steps 2..{args.steps})")
    print(f"{'metric':34s}{'vllm':>12s}{'hf':>12s}{'hf/vllm':>10s}")
    for key in KEYS + ["peak_rss_gib"]:
        a, b = results["vllm"][key], results["hf"][key]
        print(f"{key:34s}{a:12.4g}{b:12.4g}{(b / a if a else float('nan')):10.2f}")


if __name__ == "__main__":
    main()
