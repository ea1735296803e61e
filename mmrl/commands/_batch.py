"""`mmrl verify --batch`: verdicts written as they come, and resumed after an interruption.

The output holds one line per input line, in input order. A line is written (and flushed) as soon
as its verdict and every verdict before it are in, so Ctrl-C or a crash keeps all of them but the
few in flight. `--resume` keeps the output lines that match the input line for line (every input
field equal), up to the first that could not be judged for an infrastructure reason (`infra_error`:
a worker killed by the same Ctrl-C, say) or was cut short, and verifies the rest; without
`--resume` the output is overwritten. Resuming is explicit because the output cannot tell whether
the verifiers or `--timeout` changed since it was written.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from ..errors import UserError

VERDICT_KEYS = ("score", "status", "reason", "parts")  # what a verdict adds to its input line


def read_rows(path: Path, default_verifier: str | None, defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch lines as output rows (mmrl_verifiers.jsonl's contract: each line with its verifier
    and default options set), with one-line errors for lines whose `verifier` is not a known name."""
    import mmrl_verifiers as mv
    from mmrl_verifiers.jsonl import BatchInputError, read_items

    try:
        rows = read_items(path, default_verifier, defaults)
    except BatchInputError as e:
        raise UserError(str(e)) from None
    with open(path, encoding="utf-8") as f:  # the same line iteration as read_items: line numbers
        numbers = [n for n, line in enumerate(f, 1) if line.strip()]
    known = mv.names()
    for number, row in zip(numbers, rows):
        name = row["verifier"]
        if not isinstance(name, str):
            raise UserError(f"{path}:{number}: 'verifier' must be a verifier name, got a "
                            f"{type(name).__name__} ({json.dumps(name)[:80]})")
        if name not in known:
            raise UserError(f"{path}:{number}: unknown verifier {name!r}; known: {', '.join(known)}")
    return rows


def finished_lines(out: Path, rows: list[dict[str, Any]], batch: Path) -> list[dict[str, Any]]:
    """--resume: the output lines already written for `rows`; the file is cut after the last one."""
    if not out.is_file():
        return []
    kept: list[dict[str, Any]] = []
    kept_raw: list[bytes] = []
    lines = out.read_bytes().split(b"\n")
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if number == len(lines):  # the line a crash cut short: verified again
                break
            raise UserError(f"--resume: {out}:{number} is not a verdict line; remove {out} to start over") from None
        index = len(kept)
        if index >= len(rows) or not isinstance(record, dict) or any(k not in record for k in VERDICT_KEYS) \
                or any(record.get(k) != v for k, v in rows[index].items()):
            raise UserError(f"--resume: {out}:{number} does not match item {index + 1} of {batch}; "
                            f"remove {out} (or drop --resume) to start over")
        if record["status"] == "infra_error":  # e.g. a worker killed by the same Ctrl-C: judged again
            break
        kept.append(record)
        kept_raw.append(raw)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(b"".join(raw + b"\n" for raw in kept_raw))
    os.replace(tmp, out)
    return kept


def verify_batch(rows: list[dict[str, Any]], out: Path, kept: list[dict[str, Any]], workers: int,
                 timeout: float | None, on_result: Callable[[], None]) -> dict[str, Any]:
    """Verify rows[len(kept):], appending each verdict line to `out` (rewritten when nothing is kept);
    return the summary over all lines."""
    from mmrl_verifiers import VerifierPool
    from mmrl_verifiers.jsonl import summarize

    todo = rows[len(kept):]
    items, metadata = _items(rows)
    items = items[len(kept):]
    verdicts = [SimpleNamespace(score=r["score"], status=r["status"]) for r in kept]
    t0 = time.perf_counter()
    with open(out, "a" if kept else "w", encoding="utf-8") as f:
        if todo:
            with VerifierPool(workers=workers, preload=sorted({i["verifier"] for i in items})) as pool:
                def write(i: int, v) -> None:
                    f.write(json.dumps({**todo[i], "score": v.score, "status": v.status, "reason": v.reason,
                                        "parts": v.parts}, ensure_ascii=False) + "\n")
                    f.flush()
                    verdicts.append(v)
                    on_result()
                pool.map(items, timeout, write)
    return {**summarize(verdicts, time.perf_counter() - t0), "resumed": len(kept), "metadata_keys": metadata}


def _items(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Pool items from output rows: the verifier's declared options only; other fields (an `id`)
    are metadata that stays in the output line (mmrl_verifiers.jsonl.to_item)."""
    from mmrl_verifiers.jsonl import to_item

    items, metadata = [], set()
    for row in rows:
        item, meta = to_item(row)
        items.append(item)
        metadata.update(meta)
    return items, sorted(metadata)
