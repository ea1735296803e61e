"""Safe reading of structured answers (boxes, points, actions) from model text.

Only `json.loads` and `ast.literal_eval` (on at most 4 KiB) ever see model text — never `eval`
(GUI-R1 evals its answers, so `[__import__('os').system('id')]` runs in its trainer)."""
from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

from .format import answer_region, check_format

MAX_ANSWER_CHARS = 8000    # answer region cap for grounding/GUI (verifiers.md §0.1 rule 3)
MAX_LITERAL_CHARS = 4096   # ast.literal_eval input cap (§4.6)

_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)\s*```", re.DOTALL)
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"  # unambiguous: no backtracking blow-up
_QWEN2_BOX = re.compile(rf"<\|box_start\|>\s*\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*,\s*"
                        rf"\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*<\|box_end\|>")
_BARE_BOX = re.compile(rf"[\[(]\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*[\])]")


def load_structured(text: str) -> Any:
    """The JSON / Python-literal value in `text` (code fences stripped), or None.

    Tries the whole text, then the first balanced [...] or {...} in it."""
    text = text.strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    candidates = [text]
    span = first_balanced(text)
    if span and span != text:
        candidates.append(span)
    for candidate in candidates:
        value = _parse(candidate)
        if value is not None:
            return value
    return None


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # ValueError covers JSONDecodeError and >4300-digit ints
        pass
    if len(text) <= MAX_LITERAL_CHARS:
        try:
            return ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
    return None


def first_balanced(text: str, opens: str = "[{") -> str | None:
    """The first bracketed span starting at the first of `opens` (bracket counting, strings
    respected), or None when it never closes."""
    starts = [i for i in (text.find(ch) for ch in opens) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    depth, quote, escaped = 0, None, False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    return None


def to_float(value: Any) -> float | None:
    """A finite float from a JSON number (bools and non-finite values rejected), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        out = float(value)
    except OverflowError:  # a 400-digit JSON integer
        return None
    return out if math.isfinite(out) else None


def numbers(value: Any, n: int) -> list[float] | None:
    """`value` as a list of exactly `n` finite numbers, else None."""
    if not isinstance(value, (list, tuple)) or len(value) != n:
        return None
    out = [to_float(v) for v in value]
    return None if any(v is None for v in out) else out


def qwen2_boxes(text: str) -> list[list[float]]:
    """Boxes written as Qwen2-VL tokens `<|box_start|>(x1,y1),(x2,y2)<|box_end|>`.

    Non-finite values (1e999) come back as inf; callers reject them."""
    return [[float(g) for g in m.groups()] for m in _QWEN2_BOX.finditer(text)]


def bare_boxes(text: str) -> list[list[float]]:
    """Every `[a, b, c, d]` / `(a, b, c, d)` in free text (last-resort parse)."""
    return [[float(g) for g in m.groups()] for m in _BARE_BOX.finditer(text)]  # 1e999 -> inf


def think_answer(response: str, think_mode: str = "required", answer_tag: str | None = "answer",
                 min_think_chars: int = 1) -> tuple[bool, str]:
    """(format ok per verifiers.md §1.2, answer region). The region is the answer-tag body, else
    the text after </think> (§4.6), capped to its last MAX_ANSWER_CHARS characters."""
    ok = not check_format(response, think_mode, answer_tag, min_think_chars)
    region = answer_region(response, think_mode, answer_tag) if answer_tag else None
    if region is None:
        region = answer_region(response, think_mode, None)
    return ok, region[-MAX_ANSWER_CHARS:]
