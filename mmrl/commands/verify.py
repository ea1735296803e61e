"""Score responses with a verifier.

  mmrl verify --verifier math --gold 4 --response 'so \\boxed{4}'
  mmrl verify --batch in.jsonl --out out.jsonl [--verifier math] [--workers 2]
  mmrl verify --batch in.jsonl --out out.jsonl --resume   # continue an interrupted batch

Batch lines hold `response`, `gold`, optional `verifier` and verifier options; each is written back
with `score` (null = could not judge), `status`, `reason` and `parts`, in input order and as soon as
it is verified (an interrupted batch keeps what it finished), then a summary is printed."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import Interrupted, UserError
from . import _checks


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verifier", help="verifier name (default for batch lines without one)")
    p.add_argument("--gold", help="the reference answer (single mode)")
    p.add_argument("--response", help="the response to score (single mode)")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="verifier option (value parsed as JSON when it can be), repeatable; in batch mode "
                        "a default for lines that do not set it")
    p.add_argument("--batch", type=Path, help="input jsonl")
    p.add_argument("--out", type=Path, help="output jsonl (batch mode; overwritten unless --resume)")
    p.add_argument("--resume", action="store_true",
                   help="keep the --out lines that match the input and verify only the rest")
    p.add_argument("--workers", type=_checks.count, default=2, help="worker processes (default 2)")
    p.add_argument("--timeout", type=_checks.seconds,
                   help="per-item hard limit in seconds (default: the verifier's)")
    p.epilog = _verifier_help()


def _verifier_help() -> str:
    """The verifiers and their options, from the declarations the pool enforces (no verifier is
    imported for this)."""
    import mmrl_verifiers as mv

    return "verifiers and their options (-o NAME=VALUE, or a key of a batch line):\n" + "\n".join(
        "  " + line for line in mv.describe().splitlines())


def _options(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--option {pair!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    import mmrl_verifiers as mv

    if args.verifier and args.verifier not in mv.names():
        raise UserError(f"unknown verifier {args.verifier!r}; known: {', '.join(mv.names())}")
    if args.batch:
        return _run_batch(args)
    if args.out or args.resume:  # not silently ignored
        raise UserError("--out and --resume go with --batch FILE")
    if args.response is None or not args.verifier:
        raise UserError("give --verifier and --response (and --gold), or --batch FILE --out FILE")
    options = _options(args.option)
    problems = mv.validate_options(args.verifier, options)
    if problems:  # the check the pool applies, made before any work
        raise UserError("; ".join(problems))
    item = {"verifier": args.verifier, "response": args.response, "gold": args.gold, **options}
    with mv.VerifierPool(workers=1, preload=(args.verifier,)) as pool:
        verdict = pool.map([item], args.timeout)[0]
    print(json.dumps(verdict.to_dict(), ensure_ascii=False, indent=2))
    return 0


def _run_batch(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from ._batch import finished_lines, read_rows, verify_batch

    if not args.out:
        raise UserError("--batch needs --out")
    _checks.text_file("--batch", args.batch)
    _checks.output_file("--out", args.out, args.batch)  # before any work: verdicts are never lost at the end
    rows = read_rows(args.batch, args.verifier, _options(args.option))
    kept = finished_lines(args.out, rows, args.batch) if args.resume else []
    try:
        with Progress(transient=True) as bar:
            task = bar.add_task("verifying", total=len(rows), completed=len(kept))
            summary = verify_batch(rows, args.out, kept, args.workers, args.timeout, lambda: bar.advance(task))
    except KeyboardInterrupt:
        raise Interrupted(f"the verdicts finished so far are in {args.out}: rerun with --resume "
                          f"to verify only the rest") from None
    print(json.dumps(summary))
    return 0
