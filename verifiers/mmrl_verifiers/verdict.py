"""The result every verifier returns."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Why a verdict came out as it did (verifiers.md §0.1).
STATUSES = ("ok", "wrong", "format_error", "parse_error", "timeout", "runtime_error",
            "compile_error", "resource_limit", "gold_error", "infra_error")


@dataclass
class Verdict:
    """score: the reward, or None when the verifier could not judge (broken gold, infrastructure
    failure): such a sample is skipped and counted, never scored 0.
    parts: named components (format, accuracy, per-test results ...), logged separately.
    status: one of STATUSES; reason: one human-readable line; extracted: what was graded."""

    score: float | None
    parts: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    reason: str = ""
    extracted: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def judged(self) -> bool:
        return self.score is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["extracted"] is not None:
            d["extracted"] = d["extracted"][:512]
        return d

    @classmethod
    def unjudged(cls, status: str, reason: str) -> "Verdict":
        return cls(None, status=status, reason=reason)

    @classmethod
    def fail(cls, status: str, reason: str, score: float = 0.0, **parts: float) -> "Verdict":
        return cls(score, parts=dict(parts), status=status, reason=reason)
