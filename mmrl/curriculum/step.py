"""The recipe's `curriculum:` options as the step sees them: which prompts a step draws (the step
sampler or DUMP), which groups train (`select`: the group rule, dynamic sampling's extra rounds,
CLPO's rewrite pass, each a function from groups to groups), and what DUMP learns from the step's
advantages. Every option composes with any algorithm: it only changes which groups reach the loss.
Stages get a small engine interface (mmrl/train/rollouts.py), never the trainer.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from .clpo_step import clpo_stage
from .dump import DUMPSampler
from .dynamic_sampling import GroupFilter, fill_batch

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
    def __init__(self, cfg, samples: list[dict], step_sampler, algo: object, seed: int, rank: int,
                 prompts_per_step: int, data_keys: tuple[str, str]):
        self.cfg, self.step_sampler, self.size, self.seed, self.rank = cfg, step_sampler, len(samples), seed, rank
        self.k, (self.prompt_key, self.gold_key) = prompts_per_step, data_keys
        ds = cfg.dynamic_sampling
        # an explicit recipe filter wins over the algorithm's built-in one (DAPO/NGRPO's default 0 < acc < 1)
        explicit = ds if ds.enabled else None
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

    def select(self, step: int, rollouts) -> tuple[list, list, dict]:
        """Generate the step's groups and choose those that train -> (kept groups, every group
        generated this step, metrics). Unjudged responses never reach a group that trains."""
        generated: list = []

        def generation_round(round_index: int) -> list:
            new = [g for g in rollouts.groups(self.indices(step, round_index, self.k)) if g.judged]
            generated.extend(new)
            return new

        kept, metrics = fill_batch(generation_round, lambda g: g.accuracies, self.k, self.max_rounds, self.rule)
        metrics = metrics if self.cfg.dynamic_sampling.enabled else {}
        if self.cfg.clpo.enabled:  # rewrites of hard/medium prompts, mixed in
            kept, rewritten, clpo_metrics = clpo_stage(self.cfg.clpo, generated, rollouts, self.gold_key,
                                                       self.prompt_key)
            generated.extend(rewritten)
            metrics.update(clpo_metrics)
        return [_judged(g) for g in kept], generated, metrics

    def learn(self, groups: list) -> dict[str, float]:
        """After the update: every generated response's sequence advantage (0 where its group did
        not train). Returns DUMP's new sampling probabilities (logged every step)."""
        if self.dump is None:
            return {}
        rows = [(g.key, r.advantage) for g in groups for r in g.responses]
        return self.dump.update([self.sources[k] for k, _ in rows], [a for _, a in rows])

    def state_dict(self) -> dict:
        return {"dump": self.dump.state_dict()} if self.dump is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.dump is not None and "dump" in state:
            self.dump.load_state_dict(state["dump"])


def _judged(group):
    """The group with only its judged responses (the unjudged are counted, never trained on)."""
    from dataclasses import replace
    return replace(group, responses=group.judged)
