"""The batch file contract used by `mmrl verify --batch` (and any other tool).

Input: one JSON object a line with `response`, `gold`, optional `verifier` (else the default) and
any verifier options as further keys. Output: each input line with `score` (null when the verifier
could not judge), `status` and `reason` added, in input order.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from .pool import VerifierPool
from .verdict import Verdict


class BatchInputError(ValueError):
    pass


def read_items(path: str | Path, default_verifier: str | None,
               defaults: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Lines as verifier items; `defaults` (verifier options) apply where a line sets no value."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise BatchInputError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict) or "response" not in row:
                raise BatchInputError(f"{path}:{lineno}: each line needs a 'response' field")
            row = {**(defaults or {}), **row}
            row.setdefault("verifier", default_verifier)
            if not row["verifier"]:
                raise BatchInputError(f"{path}:{lineno}: no 'verifier' field and no default verifier given")
            rows.append(row)
    return rows


def summarize(verdicts: list[Verdict], seconds: float) -> dict[str, Any]:
    judged = [v.score for v in verdicts if v.score is not None]
    statuses: dict[str, int] = {}
    for v in verdicts:
        statuses[v.status] = statuses.get(v.status, 0) + 1
    return {"count": len(verdicts), "mean_score": sum(judged) / len(judged) if judged else None,
            "could_not_judge": len(verdicts) - len(judged), "statuses": statuses,
            "seconds": round(seconds, 3)}


def verify_jsonl(in_path: str | Path, out_path: str | Path, default_verifier: str | None = None,
                 workers: int = 2, timeout: float | None = None,
                 on_result: Callable[[int, Verdict], None] | None = None,
                 defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    rows = read_items(in_path, default_verifier, defaults)
    t0 = time.perf_counter()
    with VerifierPool(workers=workers, preload=sorted({r["verifier"] for r in rows})) as pool:
        verdicts = pool.map(rows, timeout, on_result)
    seconds = time.perf_counter() - t0
    with open(out_path, "w", encoding="utf-8") as f:
        for row, v in zip(rows, verdicts):
            f.write(json.dumps({**row, "score": v.score, "status": v.status, "reason": v.reason,
                                "parts": v.parts}, ensure_ascii=False) + "\n")
    return summarize(verdicts, seconds)
