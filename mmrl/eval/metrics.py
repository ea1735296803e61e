"""Benchmark metrics over n responses per problem: pass@k, avg@k, maj@k, with bootstrap intervals.

Per problem, a response is *correct* when its score is >= the benchmark's pass_threshold.
Responses the verifier could not judge (score None) are left out and counted, never scored 0.
- pass@k: the unbiased estimator 1 - C(n-c, k) / C(n, k) (Chen et al. 2021) over the judged
  responses (n of them, c correct); a problem with fewer than k judged responses is left out.
- avg@k: the mean score of the first k responses.
- maj@k: among the first k responses, the extracted answer (Verdict.extracted, stripped) given
  most often wins; a tie goes to the answer that appeared first. The problem counts as solved when
  the first response giving the winning answer is correct. No extracted answer at all: 0.
Each metric is the mean over problems; its 95% interval is a percentile bootstrap over problems.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import UserError

UNREADABLE = ("format_error", "parse_error")  # statuses of responses whose answer could not be read
_METRIC = re.compile(r"^(pass|avg|maj)@([1-9]\d*)$")


@dataclass(frozen=True)
class Response:
    score: float | None
    extracted: str | None = None
    status: str = "ok"


def parse_metric(name: str) -> tuple[str, int]:
    match = _METRIC.match(name)
    if not match:
        raise ValueError(f"unknown metric {name!r}; use pass@k, avg@k or maj@k with k >= 1")
    return match.group(1), int(match.group(2))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k responses drawn without replacement from n (c correct)
    is correct; the product form avoids huge binomials."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def majority_answer(answers: Sequence[str | None]) -> int | None:
    """Index of the first response that gives the most frequent answer (ties: the answer seen
    first); None when no response has an answer."""
    keys = [a.strip() if isinstance(a, str) and a.strip() else None for a in answers]
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(i for i, k in enumerate(keys) if k is not None and counts[k] == best)


def problem_value(metric: str, responses: Sequence[Response], threshold: float) -> float | None:
    """The metric for one problem, or None when it cannot be computed (too few judged responses)."""
    kind, k = parse_metric(metric)
    judged = [r for r in responses if r.score is not None]
    if kind == "pass":
        if len(judged) < k:
            return None
        return pass_at_k(len(judged), sum(r.score >= threshold for r in judged), k)
    first = [r for r in responses[:k] if r.score is not None]
    if len(responses) < k or not first:
        return None
    if kind == "avg":
        return float(np.mean([r.score for r in first]))
    winner = majority_answer([r.extracted for r in first])
    return 0.0 if winner is None else float(first[winner].score >= threshold)


def bootstrap_ci(values: Sequence[float], resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (resampling problems), seeded for reproducibility."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return (float("nan"), float("nan"))
    means = v[np.random.default_rng(seed).integers(0, len(v), size=(resamples, len(v)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def aggregate(problems: Sequence[Sequence[Response]], metrics: Sequence[str], threshold: float,
              resamples: int = 1000) -> dict[str, dict[str, Any]]:
    """{metric: {"value", "ci95", "problems"}} over the problems that have a value."""
    out = {}
    for metric in metrics:
        values = [v for v in (problem_value(metric, p, threshold) for p in problems) if v is not None]
        out[metric] = {"value": float(np.mean(values)) if values else None,
                       "ci95": list(bootstrap_ci(values, resamples)) if values else None,
                       "problems": len(values)}
    return out


def check_metrics(metrics: Sequence[str], n: int) -> None:
    for metric in metrics:
        _, k = parse_metric(metric)
        if k > n:
            raise UserError(f"metric {metric} needs at least {k} responses per problem; n is {n} "
                            f"(raise --n or drop the metric)")


def response_counts(problems: Sequence[Sequence[Response]]) -> dict[str, Any]:
    flat = [r for p in problems for r in p]
    statuses = Counter(r.status for r in flat)
    return {"responses": len(flat),
            "unreadable_rate": sum(statuses[s] for s in UNREADABLE) / len(flat) if flat else None,
            "unjudged": sum(r.score is None for r in flat),
            "statuses": dict(sorted(statuses.items()))}
