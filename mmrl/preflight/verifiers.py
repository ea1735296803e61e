"""Verifier names and option values, checked against the verifiers' own declarations.

`mmrl_verifiers.validate_options(verifier, options) -> [problem, ...]` checks each option's name
and value where the installed mmrl_verifiers has it; an older one only knows its names, and a bad
option value then shows up in the gold check as the verifier's own infra_error."""
from __future__ import annotations

from collections import Counter
from typing import Any

from .report import Report


def option_problems(name: str, options: dict[str, Any], key: str) -> list[str]:
    """Problems with one verifier's options, each prefixed by the key that set them."""
    import mmrl_verifiers

    validate = getattr(mmrl_verifiers, "validate_options", None)
    if validate is None or not options:
        return []
    if not isinstance(options, dict):
        return [f"{key}: expected a mapping of option: value, got {options!r:.60}"]
    try:
        return [f"{key}: {p}" for p in validate(name, dict(options))]
    except Exception as e:  # a validator bug must not hide the rest of the report
        return [f"{key}: options could not be checked ({type(e).__name__}: {e})"]


def check_names(report: Report, named: dict[str, str], options: dict[str, tuple[str, dict]],
                used: Counter) -> set[str]:
    """`named`: verifier name -> the key that names it; `options`: name -> (key, options);
    `used`: samples per verifier. Returns the verifiers that are known and whose options are valid."""
    import mmrl_verifiers

    known = set(mmrl_verifiers.names())
    errors = []
    for name, key in named.items():
        if name not in known:
            errors.append(f"{key}: unknown verifier {name!r}; known: {', '.join(sorted(known))}")
    bad_options = set()
    for name, (key, opts) in options.items():
        if name in known:
            problems = option_problems(name, opts, key)
            errors += problems
            if problems:
                bad_options.add(name)
    how = "names and option values" if hasattr(mmrl_verifiers, "validate_options") else "names"
    counts = ", ".join(f"{n} ({c} samples)" for n, c in sorted(used.items())) or ", ".join(sorted(named))
    report.add("verifiers", f"{counts}; checked {how}", errors)
    return {n for n in named if n in known} - bad_options


def check_verifier_names(report: Report, recipe, used: Counter) -> set[str]:
    d, v = recipe.data, recipe.verifiers
    named = {d.default_verifier: "data.default_verifier"}
    for name in v.options:
        named.setdefault(name, f"verifiers.options.{name}")
    if v.format_weight:
        named.setdefault("format", "verifiers.format_weight")
    for name, count in used.items():
        named.setdefault(name, f"data: {count} samples with verifier {name!r}")
    options = {name: (f"verifiers.options.{name}", opts) for name, opts in v.options.items()}
    return check_names(report, named, options, used)
