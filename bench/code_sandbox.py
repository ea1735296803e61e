"""Time per program on the HumanEval canonical solutions, 2 at a time, for a bare subprocess,
the sandbox (cold and warm) and the code verifier, and their ratios to the bare subprocess.

    .venv/bin/python bench/code_sandbox.py [--tasks 164] [--rounds 2]

Each program is prompt + canonical solution + test + check(entry_point), run with `python -I -S`:
  bare      subprocess.run, no isolation, no limits (the baseline)
  unsafe    run_sandboxed(mode="unsafe-rlimits-only"): rlimits + session kill, no namespaces
  cold      run_sandboxed(warm=False): a bwrap sandbox of its own per program
  warm      run_sandboxed(): forked by the warm zygote, same isolation per program (the default)
  verifier  the `code` verifier through VerifierPool(workers=2): driver, nonce, records, parsing
The variants alternate round by round so that load from other processes hits them alike; the load
average is printed before and after (numbers taken on a busy machine are directions, not results).
"""
import os
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


def sandboxed(progs: list[str], mode: str, warm: bool = True) -> list[bool]:
    run = lambda prog: run_sandboxed(PY + ["main.py"], files={"main.py": prog}, mode=mode, warm=warm).ok
    with ThreadPoolExecutor(WORKERS) as ex:
        return list(ex.map(run, progs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=164)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    progs, items = programs(args.tasks)
    variants = {"bare": lambda: bare(progs), "unsafe": lambda: sandboxed(progs, "unsafe-rlimits-only"),
                "cold": lambda: sandboxed(progs, "bwrap", warm=False), "warm": lambda: sandboxed(progs, "bwrap"),
                "verifier": lambda: [v.score == 1.0 for v in pool.map(items)]}
    seconds = dict.fromkeys(variants, 0.0)
    load_before = os.getloadavg()
    with VerifierPool(workers=WORKERS, preload=["code"]) as pool:
        pool.map(items[:4])  # start the workers (and their zygotes) outside the timing
        bare(progs[:8]), sandboxed(progs[:8], "unsafe-rlimits-only"), sandboxed(progs[:8], "bwrap", warm=False)
        sandboxed(progs[:8], "bwrap")
        for _ in range(args.rounds):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                passed = fn()
                seconds[name] += time.perf_counter() - t0
                assert all(passed), f"{name}: {passed.count(False)} canonical solutions failed"
    load_after = os.getloadavg()
    n = len(progs) * args.rounds
    print(f"HumanEval canonical solutions: {len(progs)} programs x {args.rounds} rounds, {WORKERS} at a time, "
          f"{os.cpu_count()} cores")
    print(f"load average (1, 5, 15 min): before {_load(load_before)}, after {_load(load_after)}")
    if max(load_before[0], load_after[0]) > 0.5 * (os.cpu_count() or 1):
        print("warning: the machine is busy; these numbers are directions, not results")
    for name, s in seconds.items():
        print(f"  {name:9s} {1000 * s / n * WORKERS:7.1f} ms per program   {n / s:6.1f} programs/s"
              f"   x{s / seconds['bare']:.2f} bare")
    print(f"  warm sandbox x{seconds['warm'] / seconds['cold']:.2f} cold sandbox")
    return 0


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


if __name__ == "__main__":
    sys.exit(main())
