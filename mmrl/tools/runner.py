"""One call, start to end: every way it can go wrong becomes a result the policy reads (bad tool
calls are data, not crashes), output is capped with a marker, and the call is timed."""
from __future__ import annotations

import time
import traceback
import warnings
from dataclasses import dataclass, field

from .calls import ToolCall
from .registry import ToolContext, ToolResult, get_tool


@dataclass
class CallRecord:
    name: str | None              # None: the call was malformed
    arguments: dict
    text: str                     # the tool turn's text, after truncation
    images: list = field(default_factory=list)
    error: str | None = None      # a registry.ERROR_KINDS kind
    truncated: bool = False
    seconds: float = 0.0


def truncate(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return f"{text[:limit]}\n[... truncated: {len(text) - limit} more characters]", True


def execute(call: ToolCall, enabled: list[str], contexts: dict[str, ToolContext], max_output_chars: int) -> CallRecord:
    """contexts: this response's ToolContext per enabled tool (their state persists across its calls)."""
    t0 = time.monotonic()
    if call.name is None or call.problem:
        result = ToolResult(f"malformed tool call: {call.problem}", error="malformed")
    elif call.name not in enabled:
        result = ToolResult(f"unknown tool {call.name!r}; available: {', '.join(enabled)}", error="unknown_tool")
    else:
        try:
            result = get_tool(call.name)(call.arguments, contexts[call.name])
        except Exception as e:  # a tool's own bug must not end the run; its last frame says where
            where = traceback.extract_tb(e.__traceback__)[-1]
            result = ToolResult(f"the {call.name} tool failed: {type(e).__name__}: {e} "
                                f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno})", error="crash")
    if result.error in ("crash", "sandbox"):  # our fault, not the policy's: say so outside the rollout too
        warnings.warn(f"tool call {call.name}: {result.text}", RuntimeWarning, stacklevel=2)
    text, cut = truncate(result.text, max_output_chars)
    if result.note:
        text = f"{text.rstrip(chr(10))}\n{result.note}" if text.strip() else result.note
    return CallRecord(call.name, call.arguments, text, list(result.images), result.error, cut,
                      time.monotonic() - t0)
