"""One context manager times every phase of the step: `with timer("rollout"): ...` adds the
elapsed seconds to time/rollout (phases that run several times in a step add up), and how much the
process's peak RSS rose inside it to memory/peak_rise_gib/rollout: the phase that sets the run's
memory high-water mark is the one to make leaner."""
from __future__ import annotations

import resource
import time
from collections import defaultdict
from contextlib import contextmanager

GIB_IN_KIB = 1 << 20  # ru_maxrss is in KiB on Linux


def peak_rss_gib() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / GIB_IN_KIB


class Timer:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.peak_rise: dict[str, float] = defaultdict(float)
        self.start = time.perf_counter()

    @contextmanager
    def __call__(self, phase: str):
        t, peak = time.perf_counter(), peak_rss_gib()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - t
            self.peak_rise[phase] += peak_rss_gib() - peak

    def metrics(self) -> dict[str, float]:
        return {**{f"time/{k}": v for k, v in self.seconds.items()}, "time/step": time.perf_counter() - self.start,
                **{f"memory/peak_rise_gib/{k}": v for k, v in self.peak_rise.items() if v > 0},
                "memory/peak_rss_gib": peak_rss_gib()}
