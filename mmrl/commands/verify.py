"""Score responses with a verifier.

  mmrl verify --verifier math --gold 4 --response 'so \\boxed{4}'
  mmrl verify --batch in.jsonl --out out.jsonl [--verifier math] [--workers 2]

Batch lines hold `response`, `gold`, optional `verifier` and verifier options; each is written back
with `score` (null = could not judge), `status`, `reason` and `parts`, then a summary is printed."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verifier", help="verifier name (default for batch lines without one)")
    p.add_argument("--gold", help="the reference answer (single mode)")
    p.add_argument("--response", help="the response to score (single mode)")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="verifier option (value parsed as JSON when it can be), repeatable; in batch mode "
                        "a default for lines that do not set it")
    p.add_argument("--batch", type=Path, help="input jsonl")
    p.add_argument("--out", type=Path, help="output jsonl (batch mode)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--timeout", type=float, help="per-item hard limit in seconds (default: the verifier's)")


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
    from mmrl_verifiers.jsonl import BatchInputError, verify_jsonl

    if args.verifier and args.verifier not in mv.names():
        raise UserError(f"unknown verifier {args.verifier!r}; known: {', '.join(mv.names())}")
    if args.batch:
        if not args.out:
            raise UserError("--batch needs --out")
        if not args.batch.is_file():
            raise UserError(f"batch file not found: {args.batch}")
        from rich.progress import Progress
        try:
            total = sum(1 for line in args.batch.open() if line.strip())
            with Progress(transient=True) as bar:
                task = bar.add_task("verifying", total=total)
                summary = verify_jsonl(args.batch, args.out, args.verifier, args.workers, args.timeout,
                                       on_result=lambda i, v: bar.advance(task), defaults=_options(args.option))
        except BatchInputError as e:
            raise UserError(str(e)) from None
        print(json.dumps(summary))
        return 0
    if args.response is None or not args.verifier:
        raise UserError("give --verifier and --response (and --gold), or --batch FILE --out FILE")
    item = {"verifier": args.verifier, "response": args.response, "gold": args.gold, **_options(args.option)}
    with mv.VerifierPool(workers=1, preload=(args.verifier,)) as pool:
        verdict = pool.map([item], args.timeout)[0]
    print(json.dumps(verdict.to_dict(), ensure_ascii=False, indent=2))
    return 0
