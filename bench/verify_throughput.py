"""Batch verification throughput: a 2-worker VerifierPool vs plain single-process math-verify.

Both score the 500 MATH-500 gold solutions against their `answer` field, in the same run:
  .venv/bin/python bench/verify_throughput.py [--workers 2] [--repeat 1]
Prints items/s for each and the ratio (goal: pool >= 1.5x on 2 cores). Pool start-up (spawning
workers that pre-import sympy/math-verify) is timed separately: a trainer pays it once.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "math500" / "test.jsonl"


def baseline(rows: list[dict]) -> float:
    """Seconds for plain math-verify: parse the wrapped gold, parse the solution, verify."""
    from math_verify import parse, verify
    verify(parse("\\boxed{1}"), parse("\\boxed{1}"))  # warm the imports and caches
    t0 = time.perf_counter()
    hits = sum(verify(parse(f"\\boxed{{{r['answer']}}}"), parse(r["solution"])) for r in rows)
    seconds = time.perf_counter() - t0
    print(f"  baseline agreed on {hits}/{len(rows)}")
    return seconds


def pooled(rows: list[dict], workers: int) -> tuple[float, float]:
    """(start-up seconds, batch seconds) for the VerifierPool running the 'math' verifier."""
    from mmrl_verifiers import VerifierPool
    items = [{"verifier": "math", "response": r["solution"], "gold": r["answer"]} for r in rows]
    t0 = time.perf_counter()
    with VerifierPool(workers=workers, preload=("math",)) as pool:
        pool.map([{"verifier": "math", "response": "\\boxed{1}", "gold": "1"}] * workers)
        t1 = time.perf_counter()
        verdicts = pool.map(items)
        t2 = time.perf_counter()
    print(f"  pool agreed on {sum(v.score == 1.0 for v in verdicts)}/{len(rows)}")
    return t1 - t0, t2 - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="repeat the 500 items this many times")
    args = ap.parse_args()
    rows = [json.loads(line) for line in DATA.open()] * args.repeat
    print(f"{len(rows)} items, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    base = baseline(rows)
    start, pool = pooled(rows, args.workers)
    print(f"single-process math-verify: {len(rows) / base:7.1f} items/s")
    print(f"VerifierPool({args.workers} workers):    {len(rows) / pool:7.1f} items/s (start-up {start:.1f} s)")
    print(f"ratio pool/baseline: {base / pool:.2f}x")


if __name__ == "__main__":
    main()
