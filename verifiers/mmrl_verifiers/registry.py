"""Verifiers by name.

A verifier is a function `fn(response: str, gold, **options) -> Verdict`. Built-ins are named by
import path and imported on first use, so `import mmrl_verifiers` stays light and optional
dependencies (CAD) are only needed by those who use them. Pool workers resolve names the same way,
so a verifier registered with `@register` must live in an importable module.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from .verdict import Verdict

VerifierFn = Callable[..., Verdict]


@dataclass(frozen=True)
class VerifierSpec:
    name: str
    target: str             # "package.module:function"
    timeout: float = 10.0   # hard wall-clock limit per item, enforced by the pool (seconds)
    fail_score: float = 0.0 # the score of a response that times out or exhausts its limits
    doc: str = ""


_SPECS: dict[str, VerifierSpec] = {}
_LOADED: dict[str, VerifierFn] = {}


def register_spec(spec: VerifierSpec) -> None:
    _SPECS[spec.name] = spec
    _LOADED.pop(spec.name, None)


def register(name: str, timeout: float = 10.0, fail_score: float = 0.0, doc: str = ""):
    """Decorator: `@register("my_reward")` on a module-level function."""
    def wrap(fn: VerifierFn) -> VerifierFn:
        register_spec(VerifierSpec(name, f"{fn.__module__}:{fn.__qualname__}", timeout, fail_score,
                                   doc or (fn.__doc__ or "").strip().split("\n")[0]))
        _LOADED[name] = fn
        return fn
    return wrap


def names() -> list[str]:
    return sorted(_SPECS)


def spec(name: str) -> VerifierSpec:
    try:
        return _SPECS[name]
    except KeyError:
        raise KeyError(f"unknown verifier {name!r}; known: {', '.join(names())}") from None


def get(name: str) -> VerifierFn:
    if name not in _LOADED:
        module, _, attr = spec(name).target.partition(":")
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        _LOADED[name] = obj
    return _LOADED[name]


# Built-in verifiers (name, import path, per-item timeout). Each module documents its options.
for _name, _target, _timeout in [
    ("format", "mmrl_verifiers.format:verify_format", 2.0),
    ("math", "mmrl_verifiers.math:verify_math", 10.0),
    ("mcq", "mmrl_verifiers.mcq:verify_mcq", 2.0),
    ("code", "mmrl_verifiers.code:verify_code", 300.0),  # up to 32 sandboxed tests of 4-10 s each
    ("grounding", "mmrl_verifiers.grounding:verify_grounding", 2.0),
    ("detection", "mmrl_verifiers.grounding:verify_detection", 2.0),
    ("counting", "mmrl_verifiers.grounding:verify_counting", 2.0),
    ("gui", "mmrl_verifiers.gui:verify_gui", 2.0),
]:
    register_spec(VerifierSpec(_name, _target, _timeout))
# CAD: the script's 30 s limit is enforced inside; 180 s also covers a slow first sandbox start.
register_spec(VerifierSpec("cad", "mmrl_verifiers.cad:verify_cad", 180.0, -0.8))
# AEPO (InfiGUI-G1): a multi-point answer that times out scores like an invalid one.
register_spec(VerifierSpec("aepo", "mmrl_verifiers.aepo:verify_aepo", 2.0, -1.0))
