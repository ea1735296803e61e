"""Batch verification throughput: a 2-worker VerifierPool vs plain single-process math-verify.

Both score the 500 MATH-500 gold solutions against their `answer` field, in the same run:
  .venv/bin/python bench/verify_throughput.py [--workers 2] [--repeat 1]
Prints items/s for each and the ratio (goal: pool >= 1.8x on 2 workers, issue 14), with the load
average (os.getloadavg) before each side and at the end: a ratio taken on a busy machine is not a result. Pool start-up (spawning
workers that pre-import sympy/math-verify) is timed separately: a trainer pays it once.
It also prints the CPU seconds each side spent (workers read from /proc), because on a shared
machine the wall-clock ratio says more about the neighbours than about the pool: CPU per item shows
the pool's own overhead, and baseline CPU / per-worker CPU is the speed-up with a core per worker.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "math500" / "test.jsonl"


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of live processes, from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def baseline(rows: list[dict]) -> tuple[float, float]:
    """(wall, CPU) seconds for plain math-verify: parse the wrapped gold, parse the solution, verify."""
    from math_verify import parse, verify
    verify(parse("\\boxed{1}"), parse("\\boxed{1}"))  # warm the imports and caches
    t0, c0 = time.perf_counter(), time.process_time()
    hits = sum(verify(parse(f"\\boxed{{{r['answer']}}}"), parse(r["solution"])) for r in rows)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"  baseline agreed on {hits}/{len(rows)}")
    return seconds, cpu


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def pooled(rows: list[dict], workers: int) -> tuple[float, float, float, float]:
    """(start-up, wall, CPU of workers + parent, CPU of the parent) seconds for the pool running 'math'."""
    from mmrl_verifiers import VerifierPool
    items = [{"verifier": "math", "response": r["solution"], "gold": r["answer"]} for r in rows]
    t0 = time.perf_counter()
    with VerifierPool(workers=workers, preload=("math",)) as pool:
        pool.map([{"verifier": "math", "response": "\\boxed{1}", "gold": "1"}] * workers)
        pids = [p.pid for p in multiprocessing.active_children()]
        t1, c1, p1 = time.perf_counter(), cpu_seconds(pids) + time.process_time(), time.process_time()
        verdicts = pool.map(items)
        t2, c2, p2 = time.perf_counter(), cpu_seconds(pids) + time.process_time(), time.process_time()
    print(f"  pool agreed on {sum(v.score == 1.0 for v in verdicts)}/{len(rows)}")
    return t1 - t0, t2 - t1, c2 - c1, p2 - p1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="repeat the 500 items this many times")
    args = ap.parse_args()
    rows = [json.loads(line) for line in DATA.open()] * args.repeat
    print(f"{len(rows)} items, {os.cpu_count()} CPUs; before the baseline: {load()}")
    base, base_cpu = baseline(rows)
    print(f"before the pool: {load()}")
    start, pool, pool_cpu, parent_cpu = pooled(rows, args.workers)
    print(f"single-process math-verify: {len(rows) / base:7.1f} items/s, {base_cpu:5.1f} CPU s")
    print(f"VerifierPool({args.workers} workers):    {len(rows) / pool:7.1f} items/s, {pool_cpu:5.1f} CPU s"
          f" ({parent_cpu:.2f} of them in the parent; start-up {start:.1f} s)")
    print(f"ratio pool/baseline: {base / pool:.2f}x wall-clock; "
          f"{base_cpu / (pool_cpu / args.workers):.2f}x with a free core per worker (CPU-time bound)")
    print(f"at the end: {load()}" + ("  (busy machine: the wall-clock ratio is not a result)"
                                     if os.getloadavg()[0] > (os.cpu_count() or 1) * 0.5 else ""))


if __name__ == "__main__":
    main()
