"""Per-step metrics: rich console line + progress bar, a jsonl file, TensorBoard; an end-of-run
summary (table + reward curve PNG). Only rank 0 logs. Metric names are stable (docs/training.md)."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

CONSOLE_KEYS = ["reward/mean", "accuracy", "eval/accuracy", "response/length_mean", "kl", "logprob_gap/mean",
                "time/step", "throughput/tokens_per_s"]
SHORT = {"reward/mean": "reward", "eval/accuracy": "held-out acc", "response/length_mean": "len", "logprob_gap/mean": "gap",
         "time/step": "s", "throughput/tokens_per_s": "tok/s"}


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class MetricsLogger:
    def __init__(self, run_dir: Path, total_steps: int, start_step: int, cfg, enabled: bool = True):
        self.enabled, self.cfg, self.total = enabled, cfg, total_steps
        self.path = run_dir / "metrics.jsonl"
        self.history: list[dict] = []
        self._tb = self._progress = None
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        if self.path.exists():  # resumed: keep the steps before the resume point, drop any after it
            rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
            self.history = [r for r in rows if r["step"] <= start_step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in self.history))
        if cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self._tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step + 1)
        if cfg.console:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
            self._progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                      TimeRemainingColumn(), TextColumn("{task.description}"))
            self._task = self._progress.add_task("", total=total_steps, completed=start_step)
            self._progress.start()

    def log(self, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        row = {"step": step, "time": time.time(), **metrics}
        self.history.append(row)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb:
            for k, v in metrics.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(k, v, step)
            self._tb.flush()
        if self._progress:
            line = "  ".join(f"{SHORT.get(k, k)} {_fmt(metrics[k])}" for k in CONSOLE_KEYS if k in metrics)
            self._progress.console.print(f"step {step:>4}  {line}")
            self._progress.update(self._task, completed=step, description=f"reward {_fmt(metrics.get('reward/mean', 0.0))}")

    def close(self, run_dir: Path) -> dict:
        """Stop the live display; write summary.json and the reward plot; print the summary."""
        if not self.enabled:
            return {}
        if self._progress:
            self._progress.stop()
        if self._tb:
            self._tb.close()
        summary = summarize(self.history)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
        if self.cfg.plot and self.history:
            plot_rewards(self.history, run_dir / "reward.png")
        if self.cfg.console and summary:
            from rich.console import Console
            from rich.table import Table
            table = Table(title=f"run summary ({run_dir})")
            for col in ("metric", "first", "last", "best"):
                table.add_column(col)
            for key in ("reward/mean", "accuracy", "eval/accuracy", "response/length_mean", "logprob_gap/mean"):
                if key in summary.get("first", {}):
                    table.add_row(key, *(_fmt(summary[c][key]) for c in ("first", "last", "best")))
            Console().print(table)
        return summary


def _window_mean(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return sum(vals) / len(vals) if vals else None


def summarize(history: list[dict]) -> dict:
    """First/last/best values (first and last: means over a window of up to 5 steps, as rewards are noisy)."""
    if not history:
        return {}
    w = max(1, min(5, len(history) // 3))
    keys = [k for k, v in history[-1].items() if isinstance(v, (int, float)) and k not in ("step", "time")]
    first = {k: _window_mean(history[:w], k) for k in keys}
    last = {k: _window_mean(history[-w:], k) for k in keys}
    best = {k: max((r[k] for r in history if isinstance(r.get(k), (int, float))), default=None) for k in keys}
    return {"steps": history[-1]["step"], "window": w, "wall_time_s": history[-1]["time"] - history[0]["time"]
            + history[0].get("time/step", 0.0), "first": first, "last": last, "best": best}


def plot_rewards(history: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in ("reward/mean", "accuracy", "tools/use_rate"):  # tool use only where the recipe has tools
        if any(key in r for r in history):
            ax.plot(steps, [r.get(key, float("nan")) for r in history], marker=".", label=key)
    held = [r for r in history if "eval/accuracy" in r]  # greedy held-out: step 0 and the evaluation steps
    held_steps = [r["step"] for r in held]
    if held:
        ax.plot(held_steps, [r["eval/accuracy"] for r in held], marker="s", linestyle="--", label="held-out accuracy")
    if any(r.get("eval/correct", r["eval/accuracy"]) != r["eval/accuracy"] for r in held):  # a graded accuracy
        ax.plot(held_steps, [r.get("eval/correct", float("nan")) for r in held], marker="^", linestyle=":",
                label="held-out correct")
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
