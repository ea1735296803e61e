"""Which samples each rank trains on at each step: a pure function of (seed, step, rank).

The stream is an endless sequence of epochs, each a fresh permutation of the data set (seeded by
seed + epoch); step s on rank r takes the slice [(s*W + r)*P, (s*W + r + 1)*P) of the stream. So the
sampler's position is just the step count: resuming at step s continues exactly where the run
stopped, and no rank ever sees another rank's prompts in the same step.
"""
from __future__ import annotations

import random


class StepSampler:
    def __init__(self, size: int, per_rank: int, rank: int = 0, world: int = 1, seed: int = 0,
                 shuffle: bool = True):
        self.size, self.per_rank, self.rank, self.world = size, per_rank, rank, world
        self.seed, self.shuffle = seed, shuffle
        self._epoch, self._order = -1, []

    def _permutation(self, epoch: int) -> list[int]:
        if epoch != self._epoch:
            self._order = list(range(self.size))
            if self.shuffle:
                random.Random(self.seed * 100003 + epoch).shuffle(self._order)
            self._epoch = epoch
        return self._order

    def indices(self, step: int) -> list[int]:
        start = (step * self.world + self.rank) * self.per_rank
        out = []
        for pos in range(start, start + self.per_rank):
            out.append(self._permutation(pos // self.size)[pos % self.size])
        return out

    def state_dict(self, step: int) -> dict:
        return {"step": step, "consumed": step * self.world * self.per_rank, "size": self.size}
