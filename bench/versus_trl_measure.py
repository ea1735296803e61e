"""bench/versus_trl.py's measuring tools: run a command in its own process and report its peak memory,
and wait for a quiet machine (the load average) before a measurement."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

QUIET_LOAD = 0.5  # 1-minute load average above which numbers are not results (2-core machine)


@dataclass
class Measured:
    returncode: int
    wall_s: float
    peak_tree_rss: int      # bytes: the largest sum of RSS over the process and all its descendants
    peak_process_rss: int   # bytes: the largest single process's peak (ru_maxrss of the waited tree)
    peak_tree_pss: int      # bytes: the largest sum of PSS (each shared page split among its sharers)


def _tree_memory(root: psutil.Process) -> tuple[int, int]:
    """(RSS, PSS) summed over the process and its descendants. RSS counts a page shared by k
    processes k times (the libraries every process maps, a spawned worker's copy of the parent's
    imports); PSS counts it once in all, so the PSS sum is the memory the run actually holds."""
    rss = pss = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            info = proc.memory_full_info()
        except psutil.Error:  # exited between the listing and the read
            continue
        rss, pss = rss + info.rss, pss + info.pss
    return rss, pss


def run_measured(cmd: list[str], env: dict, cwd: Path, log: Path, interval: float = 0.25) -> Measured:
    """Run `cmd` (stdout and stderr into `log`), polling the RSS of its whole process tree: the
    trainer, vLLM's engine process, the verifier pool's workers: the peak sums of RSS (an upper bound:
    shared pages count once per process) and of PSS, and the largest single process's peak RSS."""
    with log.open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        peak, done = (0, 0), threading.Event()

        def poll() -> None:
            nonlocal peak
            root = psutil.Process(proc.pid)
            while not done.is_set():
                try:
                    rss, pss = _tree_memory(root)
                except psutil.Error:
                    return
                peak = (max(peak[0], rss), max(peak[1], pss))
                done.wait(interval)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)  # wait4: this child's own rusage, not all children's
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        watcher.join()
    return Measured(proc.returncode, time.perf_counter() - start, peak[0], usage.ru_maxrss * 1024, peak[1])


def wait_quiet(settle_s: float) -> tuple[float, float, float]:
    """Wait up to `settle_s` for the 1-minute load average to fall below QUIET_LOAD (the previous
    side's own load takes ~1.5 min to decay); return the load average then."""
    deadline = time.monotonic() + settle_s
    while os.getloadavg()[0] > QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()
