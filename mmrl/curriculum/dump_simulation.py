"""A model-free simulation of DUMP: synthetic sources of different learnability.

Each source has a success rate; a group of G Bernoulli outcomes gets GRPO advantages (z-score in the
group). "solved" (p=0.98) and "hopeless" (p=0.01) give almost only all-equal groups, so |A| ~ 0;
"learnable" starts at p=0.2 and improves with every response trained on it, until it saturates too.
DUMP should move its sampling to "learnable" and away from it again once it is learned.
Run `python scripts/dump_simulation.py` for the plot.
"""
from __future__ import annotations

import math

import numpy as np

from .dump import DUMPSampler

SOURCES = {"solved": 0.98, "hopeless": 0.01, "learnable": 0.2}


def success_rate(name: str, trained_on: int) -> float:
    if name != "learnable":
        return SOURCES[name]
    return 0.2 + 0.78 * (1 - math.exp(-trained_on / 4000))  # learning saturates near 0.98


def simulate(steps: int = 150, prompts_per_step: int = 16, group: int = 8, prompts_per_source: int = 100,
             seed: int = 0) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    labels = [s for s in SOURCES for _ in range(prompts_per_source)]
    sampler = DUMPSampler(labels, seed=seed)
    trained = {s: 0 for s in SOURCES}
    history: dict[str, list[float]] = {s: [] for s in SOURCES}
    history["learnable_success"] = []
    for _ in range(steps):
        sources, advantages = [], []
        for idx in sampler.next_indices(prompts_per_step):
            name = labels[idx]
            rewards = (rng.random(group) < success_rate(name, trained[name])).astype(float)
            adv = (rewards - rewards.mean()) / (rewards.std(ddof=1) + 1e-6)
            sources += [name] * group
            advantages += adv.tolist()
            trained[name] += group
        probs = sampler.update(sources, advantages)
        for s in SOURCES:
            history[s].append(probs[f"dump/p/{s}"])
        history["learnable_success"].append(success_rate("learnable", trained["learnable"]))
    return history
