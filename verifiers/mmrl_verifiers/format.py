"""Format rewards shared by every family (verifiers.md §1): think/answer tags, the answer region,
reward presets and the DAPO overlong penalty.

think_mode: "required" (completion starts with <think>…</think>), "prefilled" (the chat template
already emitted <think>, so only one </think> and no <think>), "none" (no think tags at all),
"auto" (no requirement; tags that do appear must follow "required" or "prefilled").
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .verdict import Verdict

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
THINK_MODES = ("required", "prefilled", "none", "auto")
_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")


@dataclass(frozen=True)
class Weights:
    """score = accuracy·acc + format·fmt, where a wrong answer counts as `wrong` instead of 0 and a
    failed format, when `format_fail` is set, overrides the total."""
    accuracy: float = 0.9
    format: float = 0.1
    wrong: float = 0.0
    format_fail: float | None = None
    anchor: str = ""


# §1.3: the weights of the anchors, by name. "default" is this trainer's default.
PRESETS: dict[str, Weights] = {
    "default": Weights(0.9, 0.1, anchor="verl geo3k, EasyR1 math"),
    "r1v": Weights(0.5, 0.5, anchor="EasyR1 r1v"),
    "gui_r1": Weights(0.8, 0.2, anchor="GUI-R1"),
    "sum": Weights(1.0, 1.0, anchor="UI-R1, Visual-RFT, VLM-R1 (plain sum)"),
    "verl_dapo": Weights(1.0, 0.0, wrong=-1.0, anchor="verl math_dapo, EasyR1 dapo (+ overlong penalty)"),
    "infigui_g1": Weights(1.0, 1.0, format_fail=-1.0, anchor="InfiGUI-G1"),
    "accuracy": Weights(1.0, 0.0, anchor="accuracy only"),
}


def preset(name: str) -> Weights:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown reward preset {name!r}; known: {', '.join(PRESETS)}") from None


def compose(accuracy: float, format: float, preset_name: str = "default") -> float:
    w = preset(preset_name)
    if w.format_fail is not None and format < 1.0:
        return w.format_fail
    return w.accuracy * (accuracy if accuracy > 0 else w.wrong) + w.format * format


def overlong_penalty(length: int, max_len: int, buffer: int) -> float:
    """DAPO soft overlong punishment (§1.4): 0 up to max_len-buffer, then linear down to -1 at
    max_len, -1 beyond. The trainer adds factor·penalty to the reward (it knows token counts)."""
    start = max_len - buffer
    if length <= start:
        return 0.0
    if length <= max_len:
        return (start - length) / buffer
    return -1.0


def check_format(completion: str, think_mode: str = "required", answer_tag: str | None = "answer",
                 min_think_chars: int = 1) -> str:
    """'' when the completion follows the format of §1.2, else the first rule it breaks."""
    if think_mode not in THINK_MODES:
        raise ValueError(f"think_mode must be one of {', '.join(THINK_MODES)}, got {think_mode!r}")
    opens, closes = completion.count(THINK_OPEN), completion.count(THINK_CLOSE)
    if think_mode == "auto":
        think_mode = "none" if not opens + closes else "required" if opens else "prefilled"
    if think_mode == "none":
        if opens or closes:
            return "think tags present although think_mode is none"
        after = completion
    else:
        if think_mode == "required" and not completion.lstrip().startswith(THINK_OPEN):
            return "does not start with <think>"
        if opens != (think_mode == "required") or closes != 1:
            return f"needs exactly {'one' if think_mode == 'required' else 'no'} <think> and one </think>"
        body, _, after = completion.partition(THINK_CLOSE)
        if len("".join(body.replace(THINK_OPEN, "", 1).split())) < min_think_chars:
            return f"think block shorter than {min_think_chars} non-space chars"
    if answer_tag:
        open_, close = f"<{answer_tag}>", f"</{answer_tag}>"
        if completion.count(open_) != 1 or completion.count(close) != 1:
            return f"needs exactly one {open_} and one {close}"
        before, _, rest = after.partition(open_)
        body, _, tail = rest.partition(close)
        if not rest or before.strip() or tail.strip():
            return f"only whitespace may surround {open_}…{close} after the think block"
        if not body.strip():
            return f"empty {open_} body"
    return ""


def format_think_answer(completion: str, think_mode: str = "required", answer_tag: str | None = "answer",
                        min_think_chars: int = 1) -> float:
    """1.0 if the completion follows §1.2, else 0.0."""
    return 0.0 if check_format(completion, think_mode, answer_tag, min_think_chars) else 1.0


def answer_region(completion: str, think_mode: str = "auto", answer_tag: str | None = None) -> str | None:
    """What accuracy verifiers grade: the last <answer_tag> body when a tag is set (None when
    there is none), else the text after the last </think> (the whole text for think_mode none)."""
    text = completion if think_mode == "none" else completion.rpartition(THINK_CLOSE)[2]
    if not answer_tag:
        return text
    open_, close = f"<{answer_tag}>", f"</{answer_tag}>"
    start = text.rfind(open_)
    end = text.find(close, start) if start >= 0 else -1
    return text[start + len(open_):end] if end >= 0 else None


def boxed_contents(text: str) -> list[str | None]:
    """Every \\boxed{…}/\\fbox{…} body in order, brace-matched; None for an unclosed one.
    One pass over the braces, so a wall of unclosed boxes stays linear."""
    closing, stack = {}, []
    for m in re.finditer(r"[{}]", text):
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            closing[stack.pop()] = m.start()
    out: list[str | None] = []
    for m in _BOX_OPEN.finditer(text):
        end = closing.get(m.end() - 1)
        out.append(text[m.end():end] if end is not None else None)
    return out


def verify_format(response: str, gold=None, think_mode: str = "required", answer_tag: str | None = "answer",
                  min_think_chars: int = 1) -> Verdict:
    """Format reward: 1 if the response follows <think>…</think><answer>…</answer> (§1.2), else 0."""
    problem = check_format(response, think_mode, answer_tag, min_think_chars)
    if problem:
        return Verdict.fail("format_error", problem, format=0.0)
    return Verdict(1.0, {"format": 1.0}, "ok", "", answer_region(response, think_mode, answer_tag))
