"""The recipe's `curriculum:` options as the trainer sees them, so the loop stays one readable
pipeline: which prompts a generation round draws (the step sampler, DUMP, or extra dynamic-sampling
rounds), which groups count (the group filter), and what DUMP learns from the step's advantages.
Every option composes with any algorithm: it only changes which prompts and groups reach the loss.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from .dump import DUMPSampler
from .dynamic_sampling import GroupFilter

_INDEX = re.compile(r"/\d+$")


def source_of(sample: dict, key: str) -> str:
    """A sample's data source; generated samples are named "<task>/<index>", so the index is dropped."""
    return _INDEX.sub("", str(sample.get(key, "unknown")))


@dataclass(frozen=True)
class GroupRule:
    """A group trains when enough of it was judged and the filter (if any) keeps its accuracy."""
    min_size: int
    filter: GroupFilter | None

    def keep(self, accuracies: list) -> bool:
        judged = [a for a in accuracies if a is not None]
        return len(accuracies) >= self.min_size and (self.filter is None or self.filter.keep(judged))


class StepCurriculum:
    def __init__(self, cfg, samples: list[dict], step_sampler, algo: object, seed: int, rank: int):
        self.cfg, self.step_sampler, self.size, self.seed, self.rank = cfg, step_sampler, len(samples), seed, rank
        ds = cfg.dynamic_sampling
        # an explicit recipe filter wins over the algorithm's built-in one (DAPO/NGRPO's default 0 < acc < 1)
        explicit = GroupFilter(ds.low, ds.high, ds.band_pass) if ds.enabled else None
        self.rule = GroupRule(algo.min_group_size, explicit or algo.group_filter)
        self.max_rounds = ds.max_rounds if ds.enabled else 1
        self.dump = None
        if cfg.dump.enabled:
            self.sources = [source_of(s, cfg.dump.source_key) for s in samples]
            d = cfg.dump
            self.dump = DUMPSampler(self.sources, d.window, d.tau, d.exploration, seed=seed * 7919 + rank)

    def indices(self, step: int, round_index: int, k: int) -> list[int]:
        """The prompts of one generation round; deterministic given (seed, step, round) and the saved
        DUMP state, so a resumed run draws what the uninterrupted one would have."""
        if self.dump is not None:
            return self.dump.next_indices(k)
        if round_index == 0:
            return self.step_sampler.indices(step - 1)
        rng = random.Random((self.seed * 1_000_003 + step) * 1009 + round_index * 31 + self.rank)
        return [rng.randrange(self.size) for _ in range(k)]

    def learn(self, prompt_keys: list[int], advantages: list[float]) -> dict[str, float]:
        """After the update: every response's sample index and sequence advantage (0 for filtered
        groups). Returns DUMP's new sampling probabilities (logged every step)."""
        if self.dump is None:
            return {}
        return self.dump.update([self.sources[i] for i in prompt_keys], advantages)

    def state_dict(self) -> dict:
        return {"dump": self.dump.state_dict()} if self.dump is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.dump is not None and "dump" in state:
            self.dump.load_state_dict(state["dump"])
