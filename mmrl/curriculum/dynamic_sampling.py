"""DAPO dynamic sampling as a group filter (arXiv 2503.14476; algorithms.md §4).

Keep a group only if its accuracy (before any reward shaping) is strictly between 0 and 1, i.e. it
carries gradient; the band-pass option keeps groups with accuracy in [low, high]. Extra generation
rounds refill the batch up to `max_rounds`; unlike verl's recipe (which raises after
max_num_gen_batches, verl#953), reaching the bound never aborts the run: the step trains on what
passed and logs how short it fell.
"""
from __future__ import annotations

from typing import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field


class GroupFilter(BaseModel):
    """Which groups train, by accuracy; the recipe's `curriculum.dynamic_sampling` section extends it."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float = Field(0.0, ge=-1, le=1)  # keep groups with low < acc < high (strict at the default 0/1 ends)
    high: float = Field(1.0, ge=0, le=1)
    band_pass: bool = False               # True: keep low <= acc <= high (inclusive band)

    def keep(self, accuracies: Sequence[float]) -> bool:
        if not accuracies:
            return False
        acc = sum(accuracies) / len(accuracies)
        if self.band_pass:
            return self.low <= acc <= self.high
        return self.low < acc < self.high


def fill_batch(generate_round: Callable[[int], list], group_accuracies: Callable[[object], list[float]],
               target_groups: int, max_rounds: int, group_filter: "GroupFilter" = None
               ) -> tuple[list, dict[str, float]]:
    """Call `generate_round(round_index)` (returns a list of groups) until `target_groups` groups
    pass the filter or `max_rounds` rounds ran. Returns (kept groups, truncated to the target;
    metrics). Never raises for running short."""
    group_filter = group_filter or GroupFilter()
    kept, seen, rounds = [], 0, 0
    while len(kept) < target_groups and rounds < max_rounds:
        groups = generate_round(rounds)
        rounds += 1
        seen += len(groups)
        kept.extend(g for g in groups if group_filter.keep(group_accuracies(g)))
        if not groups:  # the data source is exhausted
            break
    metrics = {"dynamic_sampling/rounds": rounds, "dynamic_sampling/groups_seen": seen,
               "dynamic_sampling/groups_kept": min(len(kept), target_groups),
               "dynamic_sampling/kept_frac": len(kept) / seen if seen else 0.0,
               "dynamic_sampling/short_by": max(0, target_groups - len(kept))}
    return kept[:target_groups], metrics


class DynamicSampling(GroupFilter):
    """The recipe's `curriculum.dynamic_sampling` section: the filter, plus refill rounds."""
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True)

    enabled: bool = False
    max_rounds: int = Field(3, ge=1)      # generation rounds per step; at the bound: train on what passed
