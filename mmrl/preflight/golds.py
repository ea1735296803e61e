"""Golds verified against themselves through the verifier pool, before any training or eval.

A gold the verifier cannot judge (score None: it does not parse, a wrong option) would silently
leave every response to that sample out of the update; here it is named instead. Where the gold can
be written as a response the verifier reads (math, mcq: `\\boxed{gold}`), that response must also
score full accuracy; for the other verifiers (code tests, boxes, actions) an empty response still
makes the verifier parse the gold, which is what can be checked without a model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .report import Report

PER_VERIFIER = 4     # golds checked per verifier: a handful, so the check stays in seconds
SELF_ANSWERING = {"math", "mcq"}


@dataclass
class GoldCase:
    where: str                 # "sample 3 of /data/train.jsonl"
    item: dict[str, Any]       # the pool item: verifier, gold, options and the response
    expect_full: bool          # the response is the gold itself: it should score accuracy 1


def gold_response(verifier: str, gold: Any, options: dict[str, Any]) -> tuple[str, bool]:
    """A response that states `gold` the way the verifier reads answers, and whether it should match."""
    if verifier not in SELF_ANSWERING:
        return "", False
    text = f"\\boxed{{{gold}}}"
    tag = options.get("answer_tag") if verifier == "mcq" else (
        options.get("answer_tag", "answer") if options.get("answer_format") == "answer_tag" else None)
    if tag:
        text = f"<{tag}>{text}</{tag}>"
    if options.get("think_mode") == "required":
        text = "<think>" + "checking the reference answer. " * 4 + "</think>" + text
    return text, True


def first_per_verifier(items: list[tuple[str, dict]], per_verifier: int = PER_VERIFIER) -> list[tuple[str, dict]]:
    taken: dict[str, int] = {}
    out = []
    for where, item in items:
        name = item.get("verifier")
        if isinstance(name, str) and taken.get(name, 0) < per_verifier:
            taken[name] = taken.get(name, 0) + 1
            out.append((where, item))
    return out


class GoldCheck:
    """The gold check, started early so the pool's workers spawn while the model folder loads:
    `check = GoldCheck(cases, workers)` ... `check.finish(report)`."""

    def __init__(self, cases: list[GoldCase], workers: int):
        self.cases, self.pool = cases, None
        if cases:  # the pool spawns (and preloads) its workers now, in the background
            from mmrl_verifiers import VerifierPool

            names = sorted({c.item["verifier"] for c in cases})
            self.pool = VerifierPool(workers=max(1, min(2, workers)), preload=names)

    def finish(self, report: Report) -> None:
        if not self.cases:
            report.skip("golds", "no sample to check")
            return
        try:
            verdicts = self.pool.map([c.item for c in self.cases])
        finally:
            self.pool.close()
        errors, warnings = [], []
        for case, v in zip(self.cases, verdicts):
            gold = f"gold {str(case.item.get('gold'))!r:.80}"
            if v.score is None:
                errors.append(f"{case.where}: {gold} cannot be judged by {case.item['verifier']} "
                              f"({v.status}: {v.reason})")
            elif case.expect_full and v.parts.get("accuracy", v.score) < 1:
                warnings.append(f"{case.where}: {gold} does not match itself as the response "
                                f"{case.item['response']!r:.80} ({v.status}: {v.reason})")
        judged = sum(v.score is not None for v in verdicts)
        names = sorted({c.item["verifier"] for c in self.cases})
        report.add("golds", f"{judged} of {len(self.cases)} judged ({', '.join(names)}; the first {PER_VERIFIER} "
                            f"samples per verifier)", errors, warnings)
