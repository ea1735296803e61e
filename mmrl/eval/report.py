"""Readable outputs of a run: summary.json, report.md with plots; and the comparison of two runs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from ..errors import UserError  # noqa: E402


def write_outputs(out_dir: str | Path, summary: dict[str, Any]) -> Path:
    """summary.json, metrics.png (+ one png per breakdown) and report.md; returns the report."""
    out = Path(out_dir)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    lines = [f"# {summary['benchmark']} — {summary.get('model', '?')}", "",
             f"{summary['problems']} problems, {summary['responses']} responses (n = {summary['n']}), "
             f"engine {summary.get('engine', '?')}.", "",
             "| metric | value | 95% CI | problems |", "|---|---|---|---|"]
    for name, m in summary["metrics"].items():
        lines.append(f"| {name} | {_pct(m['value'])} | {_ci(m['ci95'])} | {m['problems']} |")
    lines += ["", f"Unreadable answers (format/parse errors): {_pct(summary['unreadable_rate'])} of responses; "
              f"could not judge: {summary['unjudged']}.", "",
              "Statuses: " + ", ".join(f"{k} {v}" for k, v in summary["statuses"].items()), "",
              f"![metrics]({_bar_chart(out / 'metrics.png', summary)})", ""]
    if "tools" in summary:
        t = summary["tools"]
        lines += ["## Tool use", "", "| use rate | calls / response | errors / call | turns / response "
                  "| score with a tool | score without |", "|---|---|---|---|---|---|",
                  f"| {_pct(t['use_rate'])} | {t['calls_per_response']:.2f} | {_pct(t['error_rate'])} | "
                  f"{t['turns_per_response']:.2f} | {_pct(t.get('reward_with_tool'))} | "
                  f"{_pct(t.get('reward_without_tool'))} |", ""]
    for key, groups in summary.get("breakdown", {}).items():
        names = list(summary["metrics"])
        lines += [f"## By {key}", "", "| " + key + " | problems | " + " | ".join(names) + " |",
                  "|---" * (len(names) + 2) + "|"]
        lines += [f"| {value} | {g['problems']} | " + " | ".join(_pct(g[n]) for n in names) + " |"
                  for value, g in groups.items()]
        lines += ["", f"![{key}]({_breakdown_chart(out / f'by_{key}.png', key, groups, names[0])})", ""]
    if summary.get("examples"):
        lines += ["## Responses not judged correct (first few)", ""]
        lines += [f"- `{e['id']}` {e['status']}: {e['reason']}" for e in summary["examples"]]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def load_summary(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    file = path / "summary.json" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"no summary.json in {path} (is it an `mmrl eval` output folder?)")
    try:
        summary = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{file}: not an `mmrl eval` summary ({type(e).__name__}: {e})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("metrics"), dict) or "benchmark" not in summary:
        raise UserError(f"{file}: not an `mmrl eval` summary (no benchmark and metrics)")
    return summary


def compare(before: dict[str, Any], after: dict[str, Any], out_dir: str | Path) -> Path:
    """A markdown table (and a plot) of the metrics both runs share: values, change, and whether
    the 95% intervals overlap (no overlap: the change is unlikely to be resampling noise)."""
    shared = [m for m in before["metrics"] if m in after["metrics"]]
    if not shared:
        raise UserError("the two runs share no metric")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    a_name, b_name = before.get("model", "A"), after.get("model", "B")
    lines = [f"# {before['benchmark']}: {a_name} vs {b_name}", "",
             f"Problems: {before['problems']} vs {after['problems']}.", "",
             "| metric | before | after | change | 95% CIs overlap |", "|---|---|---|---|---|"]
    for m in shared:
        a, b = before["metrics"][m], after["metrics"][m]
        change = None if a["value"] is None or b["value"] is None else b["value"] - a["value"]
        overlap = (a["ci95"] and b["ci95"] and a["ci95"][0] <= b["ci95"][1] and b["ci95"][0] <= a["ci95"][1])
        lines.append(f"| {m} | {_pct(a['value'])} {_ci(a['ci95'])} | {_pct(b['value'])} {_ci(b['ci95'])} | "
                     f"{'' if change is None else f'{change * 100:+.1f} pts'} | {'yes' if overlap else 'no'} |")
    fig, ax = plt.subplots(figsize=(max(4, 1.4 * len(shared)), 3))
    xs = range(len(shared))
    for offset, (summary, label) in zip((-0.2, 0.2), ((before, a_name), (after, b_name))):
        ax.bar([x + offset for x in xs], [(summary["metrics"][m]["value"] or 0) * 100 for m in shared], 0.4,
               yerr=_errors(summary, shared), capsize=3, label=str(label)[-30:])
    _finish(ax, shared, out / "compare.png")
    lines += ["", "![compare](compare.png)", ""]
    report = out / "compare.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f"[{ci[0] * 100:.1f}, {ci[1] * 100:.1f}]"


def _errors(summary: dict[str, Any], names: list[str]) -> list[list[float]]:
    lo, hi = [], []
    for name in names:
        m = summary["metrics"][name]
        value, ci = m["value"] or 0.0, m["ci95"] or [m["value"] or 0.0] * 2
        lo.append(max(0.0, (value - ci[0]) * 100))
        hi.append(max(0.0, (ci[1] - value) * 100))
    return [lo, hi]


def _bar_chart(path: Path, summary: dict[str, Any]) -> str:
    names = list(summary["metrics"])
    fig, ax = plt.subplots(figsize=(max(3, 1.1 * len(names)), 3))
    ax.bar(names, [(summary["metrics"][n]["value"] or 0) * 100 for n in names],
           yerr=_errors(summary, names), capsize=4)
    _finish(ax, names, path, title=summary["benchmark"])
    return path.name


def _breakdown_chart(path: Path, key: str, groups: dict[str, dict[str, Any]], metric: str) -> str:
    fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(groups)), 3.8))
    ax.bar(list(groups), [(g[metric] or 0) * 100 for g in groups.values()])
    plt.setp(ax.get_xticklabels(), rotation=40, ha="right", fontsize=8)
    _finish(ax, None, path, title=f"{metric} by {key}")
    return path.name


def _finish(ax, names, path: Path, title: str | None = None) -> None:
    if names is not None:
        ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=100)
    plt.close(ax.figure)
