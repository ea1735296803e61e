"""The batch file contract used by `mmrl verify --batch` (and any other tool).

Input: one JSON object a line with `response`, `gold`, optional `verifier` (else the default) and
options of that verifier as further keys. Every other key (`id`, a dataset's own columns) is
metadata: it is written back unchanged and never reaches the verifier (the summary lists such keys,
so a misspelt option is seen). Output: each input line with `score` (null when the verifier could
not judge), `status`, `reason` and `parts` added, in input order.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from . import registry
from .contract import split_fields
from .pool import ITEM_KEYS, VerifierPool
from .verdict import Verdict


class BatchInputError(ValueError):
    pass


def read_rows(path: str | Path, default_verifier: str | None) -> list[dict[str, Any]]:
    """The lines as dicts, each with its `verifier` set."""
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
            row.setdefault("verifier", default_verifier)
            if not row["verifier"]:
                raise BatchInputError(f"{path}:{lineno}: no 'verifier' field and no default verifier given")
            rows.append(row)
    return rows


def to_item(row: dict[str, Any], defaults: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """(pool item, the row's metadata keys). `defaults` (verifier options) apply where the line's
    verifier declares the option and the line sets no value."""
    try:
        declared = registry.spec(row["verifier"]).options
    except KeyError:
        declared = None  # the pool reports the unknown verifier for this line
    fields = {k: v for k, v in row.items() if k not in ITEM_KEYS}
    options, meta = split_fields(declared, fields, sample_only=False)
    if defaults:
        wanted, _ = split_fields(declared, defaults, sample_only=False)
        options = {**wanted, **options}
    item = {"verifier": row["verifier"], "response": row["response"], "gold": row.get("gold"), **options}
    return item, sorted(meta)


def read_items(path: str | Path, default_verifier: str | None,
               defaults: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The lines as output rows: each line with its `verifier` set and `defaults` (verifier options)
    applied where its verifier declares the option and the line sets none. Metadata stays in the
    row; give the pool `to_item(row)[0]`, never the row itself."""
    rows = read_rows(path, default_verifier)
    unused = _unused_defaults(rows, defaults or {})
    if unused:
        names = sorted({r["verifier"] for r in rows if isinstance(r["verifier"], str)})
        raise BatchInputError(f"option(s) {', '.join(unused)} are not options of the batch's verifiers "
                              f"({', '.join(names)}); see `mmrl verify --help`")
    return [{**row, **{k: v for k, v in to_item(row, defaults)[0].items() if k not in row}} for row in rows]


def summarize(verdicts: list[Verdict], seconds: float) -> dict[str, Any]:
    judged = [v.score for v in verdicts if v.score is not None]
    statuses: dict[str, int] = {}
    for v in verdicts:
        statuses[v.status] = statuses.get(v.status, 0) + 1
    return {"count": len(verdicts), "mean_score": sum(judged) / len(judged) if judged else None,
            "could_not_judge": len(verdicts) - len(judged), "statuses": statuses,
            "seconds": round(seconds, 3)}


def _unused_defaults(rows: list[dict[str, Any]], defaults: dict[str, Any]) -> list[str]:
    """Default options that no verifier of the batch declares (a typo would otherwise vanish)."""
    used = set()
    for name in {r["verifier"] for r in rows if isinstance(r["verifier"], str)}:
        try:
            declared = registry.spec(name).options
        except KeyError:
            continue
        used |= set(defaults) if declared is None else set(split_fields(declared, defaults, False)[0])
    return sorted(set(defaults) - used)


def verify_jsonl(in_path: str | Path, out_path: str | Path, default_verifier: str | None = None,
                 workers: int = 2, timeout: float | None = None,
                 on_result: Callable[[int, Verdict], None] | None = None,
                 defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    rows = read_items(in_path, default_verifier, defaults)
    items, meta_keys = [], set()
    for row in rows:
        item, meta = to_item(row)
        items.append(item)
        meta_keys.update(meta)
    t0 = time.perf_counter()
    preload = sorted({i["verifier"] for i in items if isinstance(i["verifier"], str)})
    with VerifierPool(workers=workers, preload=preload) as pool:
        verdicts = pool.map(items, timeout, on_result)
    seconds = time.perf_counter() - t0
    with open(out_path, "w", encoding="utf-8") as f:
        for row, v in zip(rows, verdicts):
            f.write(json.dumps({**row, "score": v.score, "status": v.status, "reason": v.reason,
                                "parts": v.parts}, ensure_ascii=False) + "\n")
    return {**summarize(verdicts, seconds), "metadata_keys": sorted(meta_keys)}
