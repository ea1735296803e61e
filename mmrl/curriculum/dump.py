"""DUMP: distribution-level curriculum with UCB (arXiv 2504.09710; algorithms.md §10).

Each data source is a bandit arm. Its learnability is the mean absolute advantage of its recent
responses (a saturated or hopeless source yields ~0); UCB adds an exploration bonus for rarely seen
sources; a temperature softmax turns the scores into sampling probabilities. Only the sampler
changes: any algorithm trains on what it picks.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Sequence

import numpy as np


class DUMPSampler:
    """Draws dataset indices: a source per slot from the UCB softmax, then a prompt of that source
    uniformly with replacement (the official code's sampling)."""

    def __init__(self, sources: Sequence[str], window: int = 300, tau: float = 0.1,
                 exploration: float = 1.0, seed: int = 0):
        if tau <= 0 or window < 1:
            raise ValueError("dump: tau must be > 0 and window >= 1")
        self.names = sorted(set(sources))
        self.members = {s: [i for i, src in enumerate(sources) if src == s] for s in self.names}
        self.window, self.tau, self.exploration = window, tau, exploration
        self.recent = {s: deque(maxlen=window) for s in self.names}  # |A| per response
        self.seen = {s: 0 for s in self.names}                       # responses ever seen
        self.rng = np.random.default_rng(seed)

    def ucb(self) -> np.ndarray:
        total = max(1, sum(self.seen.values()))
        return np.array([
            (float(np.mean(self.recent[s])) if self.recent[s] else 0.0)
            + self.exploration * math.sqrt(2 * math.log(total + 1) / (self.seen[s] + 1))  # code form
            for s in self.names])

    def probabilities(self) -> dict[str, float]:
        u = self.ucb()
        w = np.exp((u - u.max()) / self.tau)
        return dict(zip(self.names, (w / w.sum()).tolist()))

    def next_indices(self, k: int) -> list[int]:
        p = self.probabilities()
        picks = self.rng.choice(len(self.names), size=k, p=[p[s] for s in self.names])
        return [int(self.rng.choice(self.members[self.names[j]])) for j in picks]

    def update(self, sources: Sequence[str], advantages: Sequence[float]) -> dict[str, float]:
        """After a step: every response's source and its (sequence) advantage, filtered ones included."""
        for s, a in zip(sources, advantages):
            if s in self.recent:
                self.recent[s].append(abs(float(a)))
                self.seen[s] += 1
        return {f"dump/p/{s}": p for s, p in self.probabilities().items()}

    def state_dict(self) -> dict:
        return {"recent": {s: list(d) for s, d in self.recent.items()}, "seen": dict(self.seen),
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        for s in self.names:
            self.recent[s] = deque(state["recent"].get(s, []), maxlen=self.window)
            self.seen[s] = state["seen"].get(s, 0)
        self.rng.bit_generator.state = state["rng"]
