"""Checks and descriptions of verifier options for tools that run before any verification
(a trainer's preflight, `mmrl verify --help`): the same declarations the pool enforces."""
from __future__ import annotations

from typing import Any

from . import registry
from .contract import COMMON, problems


def validate_options(verifier: str, options: dict[str, Any]) -> list[str]:
    """One human-readable message per problem with `options` for `verifier` (an unknown verifier,
    an unknown option, a wrong type, a value outside the allowed set); [] when all is well.
    This is the check the VerifierPool applies to every item, so what passes here cannot become an
    `infra_error` for its options at run time."""
    try:
        spec = registry.spec(verifier)
    except KeyError as e:
        return [str(e).strip('"')]
    if not isinstance(options, dict):
        return [f"{verifier}: options must be a mapping of name to value, got {type(options).__name__}"]
    declared = spec.options
    if declared is None:
        try:
            declared = registry.signature_options(verifier)
        except (ImportError, AttributeError, ValueError) as e:
            return [f"{verifier}: cannot load the verifier ({e})"]
    bad_keys = [f"{verifier}: option names must be strings, got {k!r}" for k in options if not isinstance(k, str)]
    return bad_keys + problems(verifier, declared, {k: v for k, v in options.items() if isinstance(k, str)})


def describe(verifier: str | None = None, structured: bool = False) -> str | list[dict[str, Any]]:
    """The verifiers and their declared options, for help texts.

    describe() -> text listing every verifier: its per-item time limit and one line per option
    (name, allowed values or type, default, whether a sample column may set it, what it does);
    describe("math") -> the same for one verifier; structured=True -> a list of dicts
    {"name", "timeout", "scalar_gold", "options": [{"name", "type", "choices", "default",
    "sample", "doc"}, ...]} (options None for a verifier that declares none)."""
    names = registry.names() if verifier is None else [registry.spec(verifier).name]
    rows = []
    for name in names:
        spec = registry.spec(name)
        options = None if spec.options is None else [
            {"name": o.name, "type": o.type, "choices": list(o.choices), "default": o.default,
             "sample": o.sample, "doc": o.doc} for o in (*spec.options, *COMMON)]
        rows.append({"name": name, "timeout": spec.timeout, "scalar_gold": spec.scalar_gold, "options": options})
    if structured:
        return rows
    lines = []
    for row, name in zip(rows, names):
        spec = registry.spec(name)
        gold = "; a list gold means any of its elements" if spec.scalar_gold else ""
        lines.append(f"{name} (limit {spec.timeout:g} s per item{gold})")
        if spec.options is None:
            lines.append("    options: not declared (checked against the function's signature)")
        else:
            lines += [f"    {o.describe()}" for o in (*spec.options, *COMMON)]
    return "\n".join(lines)
