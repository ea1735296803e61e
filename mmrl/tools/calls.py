"""The call format (docs/tools.md). The policy calls a tool by writing, anywhere in its turn, either

    <tool_call>{"name": "zoom", "arguments": {"box": [10, 20, 110, 90]}}</tool_call>

(the Qwen/Hermes format that Qwen chat templates know), or, for the python tool only, a fenced block

    ```python
    print(123 * 456)
    ```

The turn ends at the first complete call (the closing `</tool_call>` or the closing fence): the
driver cuts the policy's tokens there, runs the call and appends its result as a tool turn. A block
tagged otherwise (```output, plain ```) is not a call."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

TAGGED = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
FENCED = re.compile(r"```[ \t]*(?:python3?|py)[ \t]*\n(.*?)```", re.DOTALL)
# Safe stop strings for engines that have them (vLLM `stop`, HF `stop_strings`): only text that ends
# a call. A fence cannot be one ("\n```" also opens a block), so a fenced call's end is found by the
# driver, which cuts at the first complete call whatever the engine did: without stop strings an
# engine only generates tokens that are thrown away, never different ones.
STOP_STRINGS = ("</tool_call>",)


@dataclass
class ToolCall:
    name: str | None             # None: malformed
    arguments: dict = field(default_factory=dict)
    source: str = ""             # the call's text as the policy wrote it
    problem: str | None = None   # why it is malformed


def first_call(text: str) -> tuple[ToolCall, int] | None:
    """The earliest-ending complete call in `text` and the character index just after it."""
    found = [m for m in (TAGGED.search(text), FENCED.search(text)) if m]
    close = text.find("</tool_call>")
    if close >= 0 and "<tool_call>" not in text[:close]:  # a stray closing tag also ends the turn (a stop string)
        end = close + len("</tool_call>")
        if not found or end <= min(m.end() for m in found):
            return ToolCall(None, source=text[:end], problem="</tool_call> without an opening <tool_call>"), end
    if not found:
        return None
    m = min(found, key=lambda m: m.end())
    if m.re is FENCED:
        return ToolCall("python", {"code": m.group(1)}, m.group(0)), m.end()
    return _parse_tagged(m.group(1), m.group(0)), m.end()


def _parse_tagged(body: str, source: str) -> ToolCall:
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as e:
        return ToolCall(None, source=source, problem=f"the text inside <tool_call> is not valid JSON ({e.msg} "
                        f"at character {e.pos}); write {{\"name\": ..., \"arguments\": {{...}}}}")
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return ToolCall(None, source=source, problem='the call needs a "name" string: '
                        '{"name": ..., "arguments": {...}}')
    args = obj.get("arguments", {})
    if isinstance(args, str):  # some models write the arguments as a JSON string
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            pass
    if not isinstance(args, dict):
        return ToolCall(obj["name"], source=source, problem='"arguments" must be a JSON object')
    return ToolCall(obj["name"], args, source)
