"""Tools by name, verifier-style: a tool is one module-level function in one file,

    @register_tool("python")
    def python_tool(arguments: dict, ctx: ToolContext) -> ToolResult: ...

Built-ins are named by import path and imported on first use (so `import mmrl.tools` stays light);
a user's tool registers itself when its module is imported (recipe `tools.modules`)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import UserError


@dataclass
class ToolContext:
    """What a tool may see of the response it serves. `state` is private to this response and this
    tool (e.g. the python tool's earlier successful calls); calls of one response run one at a time."""
    images: list                         # the response's input images (PIL), in prompt order
    timeout_s: float                     # per-call wall clock
    max_output_chars: int                # the driver truncates longer text; a tool may stop earlier
    options: dict[str, Any] = field(default_factory=dict)  # this tool's recipe options
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolResult:
    text: str                            # what the tool turn says
    images: list = field(default_factory=list)  # new images shown in the tool turn (zoom)
    error: str | None = None             # None, or a kind: see ERROR_KINDS
    note: str = ""                       # a status line added after the output is capped (never cut)


# What went wrong, as counted in the metrics. "malformed"/"unknown_tool" are decided by the driver.
ERROR_KINDS = ("malformed", "unknown_tool", "bad_arguments", "error", "timeout", "output_limit",
               "resource_limit", "sandbox", "crash")

ToolFn = Callable[[dict, ToolContext], ToolResult]
_TARGETS: dict[str, str] = {"python": "mmrl.tools.python:python_tool", "zoom": "mmrl.tools.zoom:zoom_tool"}
_LOADED: dict[str, ToolFn] = {}


def register_tool(name: str):
    """Decorator: `@register_tool("my_tool")` on a module-level function (arguments, ctx) -> ToolResult."""
    def wrap(fn: ToolFn) -> ToolFn:
        _TARGETS[name] = f"{fn.__module__}:{fn.__qualname__}"
        _LOADED[name] = fn
        return fn
    return wrap


def tool_names() -> list[str]:
    return sorted(_TARGETS)


def get_tool(name: str) -> ToolFn:
    if name not in _TARGETS:
        raise KeyError(name)
    if name not in _LOADED:
        module, _, attr = _TARGETS[name].partition(":")
        _LOADED[name] = getattr(importlib.import_module(module), attr)
    return _LOADED[name]


def check_tools(enabled: list[str], options: dict[str, dict]) -> None:
    """Unknown names and tools that cannot work on this machine fail before the first rollout
    (a tool may carry `fn.preflight(options)`, raising UserError)."""
    unknown = [name for name in enabled if name not in _TARGETS]
    if unknown:
        raise UserError(f"tools.enabled: unknown tool(s) {unknown}; known: {', '.join(tool_names())}")
    for name in enabled:
        preflight = getattr(get_tool(name), "preflight", None)
        if preflight is not None:
            preflight(options.get(name, {}))


def load_tool_modules(modules: list[str]) -> None:
    """Import user modules whose @register_tool functions join the registry."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise UserError(f"tools.modules: cannot import {module!r}: {e}") from None
