"""mmrl against TRL's GRPOTrainer on the identical task (issue #14): s/step by phase, tokens/s, peak memory.

    nice -n 10 .venv/bin/python bench/versus_trl.py                      # the real measurement (quiet machine)
    .venv/bin/python bench/versus_trl.py --only mmrl --steps 1 --prompts 2 --n 2 --max-new-tokens 8  # smoke
    nice -n 10 .venv/bin/python bench/versus_trl.py --precision fp32     # a CPU without bf16 instructions

Task, both sides: SmolLM2-135M-Instruct (embedded), prompts "What is a+b? Put the final answer in
\\boxed{}." (a, b in 1..99, the same prompts in the same order), the math verifier as reward (the same
options, a 2-process pool), GRPO with beta 0, bf16, P prompts x N samples, <= M new tokens.
  TRL 1.16: GRPOTrainer, transformers rollouts, bf16, gradient checkpointing, 2 torch threads (its
            best setting on the 2-core machine), one generation per optimizer step in micro-batches of N
            (bench/versus_trl_trl.py).
  mmrl:     `mmrl train bench/versus_trl.yaml` with the shape as overrides (mmrl's defaults otherwise).
Each side runs in its own process, one after the other; the first step includes warm-up, so the
report is the mean of steps 2..S. Before each side the bench waits (up to --settle s) for the
1-minute load average to fall below 0.5 and prints it; above that it warns: numbers taken while
other jobs run are not results. Memory is the peak over the run of the process tree's summed RSS
(shared pages once per process: an upper bound) and summed PSS (each shared page once in all).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from versus_trl_measure import QUIET_LOAD, Measured, run_measured, wait_quiet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "bench" / "versus_trl.yaml"
GIB = 2**30
# Phases in the order a step runs them (TRL's names, then mmrl's); others follow in name order.
PHASE_ORDER = ["generation", "rollout", "reward", "prepare", "logprobs", "forward", "backward", "update", "sync"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--steps", type=int, default=4, help="training steps per side (default 4)")
    p.add_argument("--prompts", type=int, default=8, help="prompts per step (default 8)")
    p.add_argument("--n", type=int, default=8, help="samples per prompt (default 8)")
    p.add_argument("--max-new-tokens", type=int, default=64, help="default 64")
    p.add_argument("--only", choices=["trl", "mmrl"], help="run one side")
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16",
                   help="both sides' compute: bf16 (the issue's task; default) or fp32 (a CPU without bf16 "
                        "instructions, where bf16 runs on a reference kernel)")
    p.add_argument("--trl-threads", type=int, default=2, help="TRL's torch threads (default 2: its best here)")
    p.add_argument("--trl-batch", type=int, help="TRL's micro-batch in completions (default: --n)")
    p.add_argument("--trl-model-dtype", choices=["float32", "bfloat16"], default="float32",
                   help="TRL's weights as loaded (default float32, TRL's default; compute is bf16 either way)")
    p.add_argument("--trl-set", action="append", default=[], metavar="KEY=VALUE", help="extra GRPOConfig fields")
    p.add_argument("--mmrl-set", action="append", default=[], metavar="KEY=VALUE",
                   help="recipe overrides, e.g. --mmrl-set training.threads=2")
    p.add_argument("--settle", type=float, default=180, help="max seconds to wait for a quiet machine per side")
    p.add_argument("--seed", type=int, default=0, help="seed of the a+b prompts")
    p.add_argument("--workdir", type=Path, help="keep the data, logs and runs here (default: a temp folder)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    for name in ("steps", "prompts", "n", "max_new_tokens", "trl_threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.json is not None:  # found before the runs, not after them
        if args.json.is_dir():
            p.error(f"--json {args.json} is a directory; give a file name")
        args.json.parent.mkdir(parents=True, exist_ok=True)
    args.trl_batch = args.trl_batch or args.n
    if args.prompts * args.n % args.trl_batch:
        p.error(f"--trl-batch {args.trl_batch} must divide the {args.prompts * args.n} completions of a step")
    return args


def write_data(path: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as f:
        for _ in range(count):
            a, b = rng.randint(1, 99), rng.randint(1, 99)
            f.write(json.dumps({"question": f"What is {a}+{b}? Put the final answer in \\boxed{{}}.",
                                "answer": str(a + b)}) + "\n")


def mmrl_overrides(args, data: Path, run_dir: Path) -> list[str]:
    return [f"data.train={data}", f"output_dir={run_dir}", f"rollout.prompts_per_step={args.prompts}",
            f"rollout.n={args.n}", f"rollout.max_new_tokens={args.max_new_tokens}", f"training.steps={args.steps}",
            *(["backbone.dtype=float32", "rollout.dtype=float32"] if args.precision == "fp32" else []), *args.mmrl_set]


def trl_command(args, data: Path, work: Path) -> list[str]:
    """TRL's side with the recipe's learning rate, temperature, pool size and math options."""
    from mmrl.recipe import load_recipe

    recipe = load_recipe(RECIPE, mmrl_overrides(args, data, work / "unused"))
    return [sys.executable, str(ROOT / "bench" / "versus_trl_trl.py"), "--data", str(data),
            "--out", str(work / "trl.json"), "--workdir", str(work / "trl"), "--steps", str(args.steps),
            "--prompts", str(args.prompts), "--n", str(args.n), "--batch", str(args.trl_batch),
            "--max-new-tokens", str(args.max_new_tokens), "--threads", str(args.trl_threads),
            "--lr", str(recipe.training.lr), "--temperature", str(recipe.rollout.temperature),
            "--workers", str(recipe.verifiers.workers),
            "--options", json.dumps(recipe.verifiers.options.get("math", {})),
            "--model-dtype", args.trl_model_dtype, "--precision", args.precision, *[f"--set={s}" for s in args.trl_set]]


def mmrl_command(args, data: Path, work: Path) -> list[str]:
    exe = Path(sys.executable).with_name("mmrl")
    head = [str(exe)] if exe.exists() else [sys.executable, "-m", "mmrl.cli"]
    return [*head, "train", str(RECIPE), *mmrl_overrides(args, data, work / "mmrl")]


def read_steps(side: str, work: Path) -> list[dict]:
    """Per-step records with time/* phases, time/step and completion_tokens."""
    if side == "trl":
        return json.loads((work / "trl.json").read_text())["steps"]
    rows = [json.loads(line) for line in (work / "mmrl" / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "time/step" in r]
    for r in rows:  # throughput/tokens_per_s = the step's completion tokens / time/step
        r["completion_tokens"] = r.get("throughput/tokens_per_s", 0.0) * r["time/step"]
        r["reward"] = r.get("reward/mean")
    return rows


def summarise(rows: list[dict], measured: Measured, load: tuple) -> dict:
    later = [r for r in rows if r["step"] >= 2] or rows[-1:]
    keys = sorted({k for r in later for k in r if k.startswith("time/")},
                  key=lambda k: (PHASE_ORDER.index(k[5:]) if k[5:] in PHASE_ORDER else len(PHASE_ORDER), k))
    mean = {k: sum(r.get(k, 0.0) for r in later) / len(later) for k in keys}
    tokens = sum(r["completion_tokens"] for r in later) / len(later)
    gen = mean.get("time/generation", mean.get("time/rollout", 0.0))
    rewards = [r["reward"] for r in later if r.get("reward") is not None]
    return {"steps": [r["step"] for r in later], "s_per_step": mean["time/step"],
            "phases": {k[5:]: v for k, v in mean.items() if k != "time/step"},
            "tokens_per_s": tokens / mean["time/step"], "rollout_tokens_per_s": tokens / gen if gen else 0.0,
            "completion_tokens_per_step": tokens, "reward": sum(rewards) / len(rewards) if rewards else None,
            "peak_tree_rss_gib": measured.peak_tree_rss / GIB, "peak_process_rss_gib": measured.peak_process_rss / GIB,
            "peak_tree_pss_gib": measured.peak_tree_pss / GIB,
            "wall_s": measured.wall_s, "load_before": list(load)}


def run_side(side: str, args, data: Path, work: Path) -> dict:
    load = wait_quiet(args.settle)
    print(f"[{side}] load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    if load[0] > QUIET_LOAD:
        print(f"[{side}] WARNING: 1-minute load {load[0]:.2f} > {QUIET_LOAD}: the machine is busy; "
              "these numbers are not results", flush=True)
    cmd = trl_command(args, data, work) if side == "trl" else mmrl_command(args, data, work)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    log = work / f"{side}.log"
    measured = run_measured(cmd, env, ROOT, log)
    if measured.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        sys.exit(f"[{side}] failed (exit {measured.returncode}); the last lines of {log}:\n{tail}")
    result = summarise(read_steps(side, work), measured, load)
    if side == "trl":
        result["settings"] = json.loads((work / "trl.json").read_text())["settings"]
        print(f"[trl] settings: {result['settings']}")
    print(f"[{side}] {result['s_per_step']:.2f} s/step (steps {result['steps']}), "
          f"peak RSS {result['peak_tree_rss_gib']:.2f} GiB (PSS {result['peak_tree_pss_gib']:.2f}), "
          f"{measured.wall_s:.0f} s in all", flush=True)
    return result


def report(args, results: dict) -> None:
    sides = [s for s in ("trl", "mmrl") if s in results]
    steps = results[sides[0]]["steps"]
    print(f"\nversus TRL: SmolLM2-135M-Instruct, {args.prompts} prompts x {args.n} samples, <= {args.max_new_tokens} "
          f"new tokens, beta 0, {args.precision}; mean of steps {steps[0]}..{steps[-1]}"
          + (f"; mmrl overrides: {' '.join(args.mmrl_set)}" if args.mmrl_set else ""))
    rows = [("s/step", "s_per_step", "{:.2f}"), ("completion tokens/s", "tokens_per_s", "{:.1f}"),
            ("rollout tokens/s", "rollout_tokens_per_s", "{:.1f}"),
            ("peak RSS, process tree (GiB)", "peak_tree_rss_gib", "{:.2f}"),
            ("peak RSS, largest process (GiB)", "peak_process_rss_gib", "{:.2f}"),
            ("peak PSS, process tree (GiB)", "peak_tree_pss_gib", "{:.2f}"),
            ("reward (mean)", "reward", "{:.3f}"), ("1-min load before", "load_before", None)]
    print(f"{'':34s}" + "".join(f"{s:>12s}" for s in sides) + ("    mmrl/TRL" if len(sides) == 2 else ""))
    for label, key, fmt in rows:
        vals = [results[s][key] for s in sides]
        cells = [f"{v[0]:.2f}" if fmt is None else ("-" if v is None else fmt.format(v)) for v in vals]
        line = f"{label:34s}" + "".join(f"{c:>12s}" for c in cells)
        if len(sides) == 2 and fmt and None not in vals and vals[0]:
            line += f"{vals[1] / vals[0]:12.2f}"
        print(line)
    if len(sides) == 2:
        print(f"speed-up (TRL s/step / mmrl s/step): {results['trl']['s_per_step'] / results['mmrl']['s_per_step']:.2f}x; "
              f"memory (mmrl / TRL peak tree RSS): {results['mmrl']['peak_tree_rss_gib'] / results['trl']['peak_tree_rss_gib']:.2f}, "
              f"PSS: {results['mmrl']['peak_tree_pss_gib'] / results['trl']['peak_tree_pss_gib']:.2f}")
    for s in sides:
        phases = ", ".join(f"{k} {v:.2f}" for k, v in results[s]["phases"].items())
        print(f"{s} phases (s/step): {phases}")
    busy = [s for s in sides if results[s]["load_before"][0] > QUIET_LOAD]
    if busy:
        print(f"WARNING: the machine was busy before {', '.join(busy)} (1-min load > {QUIET_LOAD}): not results")


def main(argv=None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from mmrl.models.backbone import has_bf16
    if args.precision == "bf16" and not has_bf16():  # the task: here on a reference kernel
        print("WARNING: this CPU has no bf16 instructions (avx512_bf16/amx_bf16): both sides' bf16 matmuls run on "
              "torch's reference kernel, 6-28x slower than float32 (bench/cpu_bf16.py); these times are not the task's. "
              "--precision fp32 compares the two in float32", flush=True)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="versus-trl-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "sums.jsonl"
    write_data(data, args.prompts * args.steps, args.seed)
    results = {side: run_side(side, args, data, work) for side in ("trl", "mmrl") if args.only in (None, side)}
    report(args, results)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, **results}, indent=1))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
