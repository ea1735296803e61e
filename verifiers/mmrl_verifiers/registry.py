"""Verifiers by name, each with its declared contract.

A verifier is a function `fn(response: str, gold, **options) -> Verdict`. Built-ins are named by
import path and imported on first use, so `import mmrl_verifiers` stays light and optional
dependencies (CAD) are only needed by those who use them. Pool workers resolve names the same way,
so a verifier registered with `@register` must live in an importable module.

A spec declares the verifier's options (contract.py); the pool checks every item against it. A spec
without a declaration (`options=None`, e.g. a quick `@register`) is checked against the function's
signature instead, when the function takes no **kwargs.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Callable

from .contract import DECLARED, Option
from .verdict import Verdict

VerifierFn = Callable[..., Verdict]

GOLD_CHARS = 1 << 20  # default cap on a gold's size (characters of its text or JSON leaves)


@dataclass(frozen=True)
class VerifierSpec:
    name: str
    target: str             # "package.module:function"
    timeout: float = 10.0   # hard wall-clock limit per item, enforced by the pool (seconds)
    fail_score: float = 0.0 # the score of a response that times out or exhausts its limits
    doc: str = ""
    options: tuple[Option, ...] | None = None  # the declared options (contract.py); None: undeclared
    scalar_gold: bool = False  # the gold is one value: a list gold means "any of these" (pool.py)
    max_gold_chars: int = GOLD_CHARS  # a larger gold is a gold_error, judged by nobody
    takes_truncated: bool = False  # the function scores a truncated generation itself (`truncated=`)


_SPECS: dict[str, VerifierSpec] = {}
_LOADED: dict[str, VerifierFn] = {}


def register_spec(spec: VerifierSpec) -> None:
    _SPECS[spec.name] = spec
    _LOADED.pop(spec.name, None)


def register(name: str, timeout: float = 10.0, fail_score: float = 0.0, doc: str = "",
             options: tuple[Option, ...] | None = None, scalar_gold: bool = False):
    """Decorator: `@register("my_reward")` on a module-level function."""
    def wrap(fn: VerifierFn) -> VerifierFn:
        register_spec(VerifierSpec(name, f"{fn.__module__}:{fn.__qualname__}", timeout, fail_score,
                                   doc or (fn.__doc__ or "").strip().split("\n")[0], options, scalar_gold))
        _LOADED[name] = fn
        return fn
    return wrap


def names() -> list[str]:
    return sorted(_SPECS)


def spec(name: str) -> VerifierSpec:
    try:
        return _SPECS[name]
    except (KeyError, TypeError):  # TypeError: a dict or list given as the name
        raise KeyError(f"unknown verifier {name!r}; known: {', '.join(names())}") from None


def get(name: str) -> VerifierFn:
    if name not in _LOADED:
        module, _, attr = spec(name).target.partition(":")
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        _LOADED[name] = obj
    return _LOADED[name]


def signature_options(name: str) -> tuple[Option, ...] | None:
    """The options an undeclared verifier takes, read from its signature (None: it takes **kwargs)."""
    params = list(inspect.signature(get(name)).parameters.values())[2:]  # after response, gold
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    kinds = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}
    return tuple(Option(p.name, kinds.get(type(p.default), "|".join(sorted(set(kinds.values())))),
                        None if p.default is p.empty else p.default, nullable=True) for p in params)


# Built-in verifiers: name, import path, per-item timeout, and whether the gold is one value.
for _name, _target, _timeout, _scalar in [
    ("format", "mmrl_verifiers.format:verify_format", 2.0, False),
    ("math", "mmrl_verifiers.math:verify_math", 10.0, True),
    ("mcq", "mmrl_verifiers.mcq:verify_mcq", 2.0, True),
    ("code", "mmrl_verifiers.code:verify_code", 300.0, False),  # up to 32 sandboxed tests of 4-10 s each
    ("grounding", "mmrl_verifiers.grounding:verify_grounding", 2.0, False),
    ("detection", "mmrl_verifiers.grounding:verify_detection", 2.0, False),
    ("counting", "mmrl_verifiers.grounding:verify_counting", 2.0, False),
    ("gui", "mmrl_verifiers.gui:verify_gui", 2.0, False),
]:
    register_spec(VerifierSpec(_name, _target, _timeout, options=DECLARED[_name], scalar_gold=_scalar,
                               takes_truncated=_name != "format",
                               max_gold_chars=64 << 20 if _name == "code" else GOLD_CHARS))
# CAD: the script's 30 s limit is enforced inside; 180 s also covers a slow first sandbox start.
register_spec(VerifierSpec("cad", "mmrl_verifiers.cad:verify_cad", 180.0, -0.8, options=DECLARED["cad"],
                           takes_truncated=True))
# AEPO (InfiGUI-G1): a multi-point answer that times out (or is truncated) scores like an invalid one.
register_spec(VerifierSpec("aepo", "mmrl_verifiers.aepo:verify_aepo", 2.0, -1.0, options=DECLARED["aepo"]))
