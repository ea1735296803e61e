"""Evaluate a model on a benchmark definition (eval/*.yaml): pass@k, avg@k, maj@k.

  mmrl eval eval/gsm8k.yaml [--model DIR|smollm2-135m-instruct|smolvl] [--engine vllm|hf]
                            [--limit N] [--n 8] [--set sampling.temperature=0.6] [--out DIR]
                            [--tools python,zoom]   # the model may call these tools (docs/tools.md)
  mmrl eval eval/gsm8k.yaml --gold          # reference answers as responses: checks the pipeline
  mmrl eval --compare runs/eval/before runs/eval/after [--out DIR]

Outputs in --out (default runs/eval/<benchmark>-<model>): samples.jsonl (prompt, responses,
verdicts per problem), summary.json, report.md with plots. Run the same command again to resume
a run that stopped: finished problems are neither regenerated nor re-verified. A folder holding
results of a run with other settings is refused; one without results (a run that failed before
its first problem) is taken over."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import UserError
from . import _checks

SAMPLED_TEMPERATURE = 0.6  # for --n > 1 when the benchmark decodes greedily (n identical answers otherwise)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("benchmark", nargs="?", type=Path, help="benchmark definition, e.g. eval/gsm8k.yaml")
    p.add_argument("--model", default="smollm2-135m-instruct",
                   help="a local model folder, or smollm2-135m-instruct (default) or smolvl")
    p.add_argument("--engine", choices=("vllm", "hf"), default="vllm", help="rollout engine (default vllm)")
    p.add_argument("--limit", type=_checks.count, help="evaluate only the first N problems")
    p.add_argument("--n", type=_checks.count, help="responses per problem (default: the benchmark's)")
    p.add_argument("--temperature", type=_checks.temperature,
                   help="sampling temperature (default: the benchmark's; 0.6 when --n > 1 meets a greedy benchmark)")
    p.add_argument("--max-new-tokens", type=_checks.count, help="response length cap (default: the benchmark's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a benchmark key, e.g. data_dir=PATH or sampling.temperature=0.6")
    p.add_argument("--tools", help="comma-separated tools the model may call while answering, e.g. python "
                   "(limits: --set tools.max_turns=3; default: the benchmark's tools section)")
    p.add_argument("--gold", action="store_true",
                   help="gold mode: feed the reference answers as responses (no model); should score ~100%%")
    p.add_argument("--out", type=Path, help="output folder")
    p.add_argument("--batch-size", type=_checks.count, default=16, help="problems per generation batch (default 16)")
    p.add_argument("--workers", type=_checks.count, default=2, help="verifier worker processes (default 2)")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                   help="compare two finished runs (folders or summary.json files)")


def run(args: argparse.Namespace) -> int:
    from ..eval.report import compare, load_summary, write_outputs

    if args.out is not None:  # before any work: a bad --out is not found after the model ran
        _checks.output_folder("--out", args.out)
    if args.compare:
        before, after = (load_summary(p) for p in args.compare)
        report = compare(before, after, args.out or args.compare[1])
        print(report.read_text())
        return 0
    if args.benchmark is None:
        raise UserError("give a benchmark file (e.g. eval/gsm8k.yaml) or --compare BEFORE AFTER")

    from ..eval.benchmark import load_benchmark
    from ..eval.runner import gold_responder

    bench = load_benchmark(args.benchmark, _overrides(args))
    model_name = "gold" if args.gold else Path(args.model).name
    out = args.out or Path("runs") / "eval" / f"{bench.name}-{model_name}"
    _checks.output_folder("--out", out)
    if not args.gold and not Path(args.model).expanduser().is_dir():  # not found (or a hub name): one line
        from ..models import resolve_model                                  # before the preflight table
        resolve_model(args.model)
    from ..preflight import preflight_benchmark  # data, images, tools, model, verifier, golds: before any engine
    preflight_benchmark(bench, None if args.gold else args.model, limit=args.limit, workers=args.workers)

    if args.gold:
        respond, info, engine = gold_responder(bench), {"model": "gold (reference responses)", "engine": "none"}, None
    else:
        from ..eval.generate import engine_responder, open_engine
        engine, info = open_engine(args.model, args.engine, bench.sampling.max_new_tokens)
        respond = engine_responder(bench, engine)
    try:
        summary = _run_with_progress(bench, out, respond, info, args)
    finally:
        if engine is not None:
            engine.close()
    report = write_outputs(out, summary)
    print(json.dumps({"benchmark": bench.name, **{m: r["value"] for m, r in summary["metrics"].items()},
                      "unreadable_rate": summary["unreadable_rate"], "report": str(report)}))
    return 0


def _overrides(args: argparse.Namespace) -> list[str]:
    """--set pairs plus the shortcut flags, as benchmark overrides."""
    from ..eval.benchmark import load_benchmark

    overrides = list(args.overrides)
    if args.gold:  # one response per problem: the reference
        return overrides + ["sampling.n=1", "metrics=[]"]
    if args.tools is not None:
        overrides.append(f"tools.enabled={[t.strip() for t in args.tools.split(',') if t.strip()]}")
    if args.temperature is not None:
        overrides.append(f"sampling.temperature={args.temperature}")
    if args.n is not None:
        if args.n > 1 and args.temperature is None and load_benchmark(args.benchmark, overrides).sampling.temperature == 0:
            print(f"mmrl eval: --n {args.n} on a greedy benchmark: sampling at temperature {SAMPLED_TEMPERATURE} "
                  f"(choose with --temperature)", file=sys.stderr)
            overrides.append(f"sampling.temperature={SAMPLED_TEMPERATURE}")
        overrides.append(f"sampling.n={args.n}")
    if args.max_new_tokens is not None:
        overrides.append(f"sampling.max_new_tokens={args.max_new_tokens}")
    return overrides


def _run_with_progress(bench, out, respond, info, args):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..eval.runner import evaluate

    columns = (TextColumn(f"{bench.name}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(bench.name, total=None)
        return evaluate(bench, out, respond, info, limit=args.limit, batch_size=args.batch_size,
                        workers=args.workers,
                        on_progress=lambda done, total: bar.update(task, completed=done, total=total))
