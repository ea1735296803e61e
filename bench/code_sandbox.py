"""Sandboxed executions per second on the HumanEval canonical solutions, 2 at a time, and the
sandbox's overhead against a bare subprocess run of the same programs in the same run.

    .venv/bin/python bench/code_sandbox.py [--tasks 164] [--rounds 2]

Each program is prompt + canonical solution + test + check(entry_point), run with `python -I -S`:
  bare      subprocess.run, no isolation, no limits (the baseline)
  unsafe    run_sandboxed(mode="unsafe-rlimits-only"): rlimits + session kill, no namespaces
  bwrap     run_sandboxed(mode="bwrap"): the real sandbox
  verifier  the `code` verifier through VerifierPool(workers=2): driver, nonce, records, parsing
The variants alternate round by round so that load from other processes hits them alike.
"""
import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mmrl_verifiers import VerifierPool
from mmrl_verifiers.code_datasets import humaneval
from mmrl_verifiers.sandbox import run_sandboxed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PY = [sys.executable, "-I", "-S"]
WORKERS = 2


def programs(n: int) -> tuple[list[str], list[dict]]:
    rows = list(humaneval(DATA / "humaneval" / "HumanEval.jsonl.gz"))[:n]
    progs = [f"{r['solution']}\n{r['gold']['setup']}\ncheck({r['entry_point']})\n" for r in rows]
    items = [{"verifier": "code", "response": r["solution"], "gold": r["gold"]} for r in rows]
    return progs, items


def bare(progs: list[str]) -> list[bool]:
    with tempfile.TemporaryDirectory() as d:
        paths = [Path(d, f"p{i}.py") for i in range(len(progs))]
        for path, prog in zip(paths, progs):
            path.write_text(prog)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # as in the sandbox
        run = lambda p: subprocess.run(PY + [str(p)], capture_output=True, cwd=d, env=env).returncode == 0
        with ThreadPoolExecutor(WORKERS) as ex:
            return list(ex.map(run, paths))


def sandboxed(progs: list[str], mode: str) -> list[bool]:
    run = lambda prog: run_sandboxed(PY + ["main.py"], files={"main.py": prog}, mode=mode).ok
    with ThreadPoolExecutor(WORKERS) as ex:
        return list(ex.map(run, progs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=164)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    progs, items = programs(args.tasks)
    seconds = {"bare": 0.0, "unsafe": 0.0, "bwrap": 0.0, "verifier": 0.0}
    with VerifierPool(workers=WORKERS, preload=["code"]) as pool:
        pool.map(items[:2])  # start the workers and warm the page cache outside the timing
        bare(progs[:8]), sandboxed(progs[:8], "bwrap"), sandboxed(progs[:8], "unsafe-rlimits-only")
        for _ in range(args.rounds):
            for name, fn in [("bare", lambda: bare(progs)), ("unsafe", lambda: sandboxed(progs, "unsafe-rlimits-only")),
                             ("bwrap", lambda: sandboxed(progs, "bwrap")),
                             ("verifier", lambda: [v.score == 1.0 for v in pool.map(items)])]:
                t0 = time.perf_counter()
                passed = fn()
                seconds[name] += time.perf_counter() - t0
                assert all(passed), f"{name}: {passed.count(False)} canonical solutions failed"
    n = len(progs) * args.rounds
    print(f"HumanEval canonical solutions: {len(progs)} programs x {args.rounds} rounds, {WORKERS} at a time")
    for name, s in seconds.items():
        print(f"  {name:9s} {n / s:7.1f} executions/s   {1000 * s / n * WORKERS:6.1f} ms per execution"
              f"   overhead vs bare x{s / seconds['bare']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
