"""Training samples from local jsonl/parquet files (HF `datasets`), and prompts built from them.

A sample is a dict: the prompt text (`data.prompt_key`), the gold answer (`data.gold_key`), an
optional `verifier` name (else `data.default_verifier`), optional image path(s) (`data.image_key`)
and any other keys: those a verifier declares as per-sample options reach it, the rest is metadata
(see verifier_item). One file can therefore mix math, code and grounding samples.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError


def load_samples(path: Path) -> list[dict]:
    """All rows of a .jsonl/.json or .parquet file as dicts. Any problem is one line naming the
    file (and the line of a jsonl file): not found, not UTF-8, not JSON, a row that is no object."""
    path = Path(path)
    readers = {".jsonl": _read_json, ".json": _read_json, ".parquet": _read_parquet}
    if path.suffix not in readers:
        raise UserError(f"data file {path}: unsupported type {path.suffix!r}; use .jsonl, .json or .parquet")
    if not path.is_file():
        raise UserError(f"data file {path}: no such file")
    rows = readers[path.suffix](path)
    if not rows:
        raise UserError(f"data file {path}: no samples")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UserError(f"data file {path}: sample {i} is a {type(row).__name__}, expected an object")
    return rows


def _read_json(path: Path) -> list:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[:e.start].count(b"\n") + 1
        raise UserError(f"data file {path}: not UTF-8 text (line {line}, byte {e.start}: {e.reason})") from None
    stripped = text.lstrip()
    if path.suffix == ".json" and stripped.startswith("["):  # one JSON array (else: JSON lines)
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"data file {path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise UserError(f"data file {path}: line {number} is not valid JSON ({e.msg})") from None
    return rows


def _read_parquet(path: Path) -> list:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises several types for a damaged file; keep its first line
        raise UserError(f"data file {path}: not a readable parquet file ({str(e).splitlines()[0]})") from None


def check_keys(samples: list[dict], path: Path, data) -> None:
    """Every sample has its prompt and gold: else one line with the counts and the first bad sample."""
    problems = missing_keys(samples, path, data)
    if problems:
        raise UserError("\n".join(problems))


def missing_keys(samples: list[dict], path: Path, data) -> list[str]:
    out = []
    for key in (data.prompt_key, data.gold_key):
        bad = [i for i, s in enumerate(samples) if s.get(key) is None]
        if bad:
            first = samples[bad[0]]
            out.append(f"data file {path}: {len(bad)} of {len(samples)} samples have no {key!r}; first: sample "
                       f"{bad[0]} (keys: {', '.join(sorted(first))})")
    return out


def chat_prompt(processor, sample: dict, data, n_images: int = 0) -> str:
    """The sample's chat-templated prompt text (mmrl/data/chat.py), ending with the assistant turn's
    opening and the recipe's data.response_prefix."""
    from .chat import chat_text
    return chat_text(processor, data.prompt_template.format(prompt=sample[data.prompt_key]), n_images,
                     data.system_prompt) + data.response_prefix


def verifier_item(sample: dict, data, options: dict) -> dict:
    """The verifier pool item for a sample, without the response: routed by the sample's `verifier`,
    with the recipe's options for that verifier. Of the sample's other columns only those the
    verifier declares as per-sample options reach it (MCQ `choices`, a grounding sample's
    `image_size`; mmrl_verifiers.describe() lists them); every other column (`id`, `source`, a
    dataset's own fields) is metadata and never changes a verdict."""
    import mmrl_verifiers as mv

    name = sample.get("verifier") or data.default_verifier
    try:
        spec = mv.spec(name)
        declared = spec.options if spec.options is not None else _signature_options(name)
    except (KeyError, ImportError, AttributeError, ValueError):  # the pool names the problem
        declared = ()
    own = {"verifier", data.prompt_key, data.gold_key, data.image_key}
    fields = {k: v for k, v in sample.items() if k not in own and v is not None}
    per_sample, _metadata = mv.split_fields(declared, fields)
    return {"verifier": name, "gold": sample[data.gold_key], **options.get(name, {}), **per_sample}


def _signature_options(name: str) -> tuple:
    """An undeclared verifier asks for the columns its signature names (none when it takes **kwargs)."""
    from dataclasses import replace

    from mmrl_verifiers.registry import signature_options
    return tuple(replace(o, sample=True) for o in signature_options(name) or ())
