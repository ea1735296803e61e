"""GRPO, DAPO, CISPO, SAPO and GMPO trained from the same seed on the quickstart task (SmolLM2,
one-digit chain sums), one after another, and their held-out accuracy and training reward drawn in
one picture for docs/algorithms.md. Run it alone on a quiet machine: every run is a full
`mmrl train` (vLLM rollouts, DeepSpeed updates).

    .venv/bin/python bench/compare_algorithms.py [--steps 20] [--eval-every 5] [--seed 0] [--mini-batches 2]
        [--algorithms grpo,dapo,cispo,sapo,gmpo] [--out docs/img/compare_algorithms.png]
        [--recipe recipes/quickstart.yaml] [--dry] [--plot-only] [key=value overrides for every run]
    .venv/bin/python bench/compare_algorithms.py --plot-runs grpo=runs/scenes_count,papo=runs/scenes_count_papo \
        --out docs/img/scenes_count_grpo_papo.png   # two finished runs, side by side

    # GRPO vs PAPO on smolvl's visual counting (docs/scenes.md):
    .venv/bin/python bench/compare_algorithms.py --recipe recipes/scenes_count.yaml --algorithms grpo,papo \
        --steps 40 --eval-every 10 --mini-batches 1 --out docs/img/scenes_count_grpo_papo.png

Each run is `mmrl train recipes/quickstart.yaml algorithm.name=<x> name=compare_<x>
training.seed=<seed> ...` in its own process, in runs/compare_<x>/ (checkpoint.resume=never: a
rerun starts over). Two mini-batches per step by default: with one, every update is on-policy
(ratio 1) and GRPO, SAPO and GMPO then have the same gradient (CISPO that of token-mean GRPO), so
the comparison would show only sampling noise. --dry only checks the recipes (`--dry-run`: preflight, no training);
--plot-only redraws the picture from the runs' metrics.jsonl.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MMRL = [sys.executable, "-m", "mmrl.cli"]
RECIPE = ROOT / "recipes" / "quickstart.yaml"
DEFAULT = "grpo,dapo,cispo,sapo,gmpo"


def run_name(algorithm: str, recipe: Path = RECIPE) -> str:
    return f"compare_{algorithm}" if recipe == RECIPE else f"compare_{recipe.stem}_{algorithm}"


def command(algorithm: str, args, dry: bool) -> list[str]:
    name = run_name(algorithm, args.recipe)
    overrides = [f"algorithm.name={algorithm}", f"name={name}", f"output_dir={args.runs_dir / name}", f"training.seed={args.seed}",
                 f"training.steps={args.steps}", f"logging.eval_every={args.eval_every}",
                 f"training.mini_batches={args.mini_batches}",
                 "checkpoint.resume=never", *args.overrides]
    return [*MMRL, "train", str(args.recipe), *overrides, *(["--dry-run"] if dry else [])]


def read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        raise SystemExit(f"{path}: no metrics (did the run finish? rerun without --plot-only)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def curves(rows: list[dict], held_out: str = "eval/accuracy") -> tuple[list, list, list, list]:
    """(eval steps, held-out accuracy, train steps, training reward)."""
    ev = [(r["step"], r[held_out]) for r in rows if held_out in r]
    tr = [(r["step"], r["reward/mean"]) for r in rows if "reward/mean" in r]
    return [s for s, _ in ev], [a for _, a in ev], [s for s, _ in tr], [v for _, v in tr]


def smooth(values: list[float], window: int = 3) -> list[float]:
    return [sum(values[max(0, i - window + 1):i + 1]) / len(values[max(0, i - window + 1):i + 1])
            for i in range(len(values))]


def plot(results: dict[str, list[dict]], out: Path, title: str, held_out: str = "eval/accuracy") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, rows in results.items():
        es, acc, ts, reward = curves(rows, held_out)
        left.plot(es, acc, marker="o", label=name)
        right.plot(ts, smooth(reward), label=name)
    left.set(xlabel="step", ylabel=f"held-out {held_out} (greedy)", title="held-out accuracy")
    right.set(xlabel="step", ylabel="mean reward (3-step moving mean)", title="training reward")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def table(results: dict[str, list[dict]], walls: dict[str, float], held_out: str = "eval/accuracy") -> None:
    print(f"{'algorithm':10s} {'eval@0':>7s} {'eval@end':>9s} {'reward first3':>14s} {'reward last3':>13s} {'wall s':>7s}")
    for name, rows in results.items():
        _, acc, _, reward = curves(rows, held_out)
        first = sum(reward[:3]) / max(len(reward[:3]), 1)
        last = sum(reward[-3:]) / max(len(reward[-3:]), 1)
        print(f"{name:10s} {acc[0] if acc else float('nan'):7.3f} {acc[-1] if acc else float('nan'):9.3f} "
              f"{first:14.3f} {last:13.3f} {walls.get(name, float('nan')):7.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", default=DEFAULT, help=f"comma-separated (default {DEFAULT})")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipe", type=lambda p: Path(p).resolve(), default=RECIPE, help="the recipe every run starts from")
    parser.add_argument("--mini-batches", type=int, default=2, help="optimizer steps per training step")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "compare_algorithms.png")
    parser.add_argument("--dry", action="store_true", help="check each run's recipe (preflight) and stop")
    parser.add_argument("--plot-only", action="store_true", help="redraw from existing runs")
    parser.add_argument("--plot-runs", default="",
                        help="draw these runs instead, as label=run_dir,... (e.g. runs of two recipes)")
    parser.add_argument("--held-out", default="eval/accuracy",
                        help="the held-out metric drawn: eval/accuracy (the verifier's graded part) or eval/correct")
    parser.add_argument("overrides", nargs="*", help="key=value recipe overrides for every run")
    args = parser.parse_args()
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    if args.plot_runs:
        pairs = [pair.split("=", 1) for pair in args.plot_runs.split(",")]
        if any(len(p) != 2 or not (Path(p[1]) / "metrics.jsonl").is_file() for p in pairs):
            parser.error(f"--plot-runs {args.plot_runs!r}: give label=run_dir,... with a metrics.jsonl in each run_dir")
        runs = dict(pairs)
        results = {label: read_metrics(Path(folder) / "metrics.jsonl") for label, folder in runs.items()}
        table(results, {}, args.held_out)
        plot(results, args.out, " vs ".join(Path(folder).name for folder in runs.values()), args.held_out)
        return 0

    walls: dict[str, float] = {}
    if not args.plot_only:
        for algorithm in algorithms:
            cmd = command(algorithm, args, args.dry)
            print("$", " ".join(cmd), flush=True)
            start = time.time()
            rc = subprocess.run(cmd, cwd=ROOT).returncode
            walls[algorithm] = time.time() - start
            if rc != 0:
                print(f"{algorithm}: mmrl train exited {rc}; stopping", file=sys.stderr)
                return rc
        if args.dry:
            print(f"dry: {len(algorithms)} recipes checked, nothing trained")
            return 0
    results = {a: read_metrics(args.runs_dir / run_name(a, args.recipe) / "metrics.jsonl") for a in algorithms}
    table(results, walls)
    task = "quickstart (SmolLM2-135M, chain sums)" if args.recipe == RECIPE else args.recipe.stem
    plot(results, args.out, f"{task}, seed {args.seed}, {args.steps} steps, {args.mini_batches} mini-batches per step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
