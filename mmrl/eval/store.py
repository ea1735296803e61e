"""The run folder: run.json (what was asked), samples.jsonl (one record per problem).

samples.jsonl is append-only while a run is going: a problem's record is written once its responses
exist (verdicts null) and again once they are verified, so a run that crashes resumes without
generating or verifying anything twice. The last record of a problem wins; a half-written last line
(the crash) is ignored. At the end the file is rewritten with one final record per problem.
run.json guards the results: a folder holding records of a run with other settings is refused. A
folder without records (a run that failed before its first result) is simply taken over, so the
corrected command runs without deleting anything.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from ..errors import UserError


class RunStore:
    def __init__(self, out_dir: str | Path, fingerprint: dict[str, Any]):
        self.dir = Path(out_dir)
        self.samples_path = self.dir / "samples.jsonl"
        if self.dir.exists() and not self.dir.is_dir():
            raise UserError(f"{self.dir}: exists and is not a folder; give a folder as --out")
        self.dir.mkdir(parents=True, exist_ok=True)
        run_file = self.dir / "run.json"
        self.records = self._load()
        now = json.loads(json.dumps(fingerprint, default=str))
        if run_file.is_file() and self.records:  # a run with results: resumed, or refused if it differs
            previous, flat = _read_run(run_file), _flat(now)
            changed = sorted(k for k in set(previous) | set(flat) if previous.get(k) != flat.get(k))
            if changed:
                raise UserError(f"{self.dir} holds a run with different settings ({', '.join(changed)}); "
                                f"use another --out or delete that folder")
        else:  # nothing finished there (a run that failed before its first result): nothing to keep
            _write_atomic(run_file, json.dumps(now, indent=2))

    def _load(self) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        if self.samples_path.is_file():
            for line in self.samples_path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the line a crash cut short; its problem is simply redone
                if not isinstance(record, dict) or "id" not in record:
                    raise UserError(f"{self.samples_path}: a line that is not an `mmrl eval` record; "
                                    f"use another --out or delete that folder")
                records[record["id"]] = record
        return records

    def put(self, record: dict[str, Any]) -> None:
        self.records[record["id"]] = record
        with open(self.samples_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def compact(self, order: Iterable[str]) -> list[dict[str, Any]]:
        """Rewrite samples.jsonl with one final record per problem, in benchmark order."""
        final = [self.records[i] for i in order if i in self.records]
        _write_atomic(self.samples_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in final))
        return final


def _read_run(file: Path) -> dict[str, Any]:
    try:
        return _flat(json.loads(file.read_text(encoding="utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
        raise UserError(f"{file}: not an `mmrl eval` run file ({type(e).__name__}); "
                        f"use another --out or delete that folder") from None


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}, so a refusal can name the setting that changed."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
