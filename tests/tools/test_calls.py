"""The call format: fenced python blocks and <tool_call> JSON, the earliest complete call wins,
and a malformed call is reported, not raised."""
from mmrl.tools.calls import first_call


def test_fenced_python_block_is_a_call_ending_at_the_closing_fence():
    text = "Let me compute.\n```python\nprint(123 * 456)\n```\nThe answer is"
    call, end = first_call(text)
    assert call.name == "python" and call.arguments == {"code": "print(123 * 456)\n"}
    assert text[:end].endswith("print(123 * 456)\n```")


def test_other_fences_and_unfinished_blocks_are_not_calls():
    assert first_call("```output\n56088\n```\n") is None
    assert first_call("```\nprint(1)\n```\n") is None
    assert first_call("```python\nprint(1)\n") is None  # not closed yet: generation goes on


def test_tagged_json_call_with_arguments_as_object_or_string():
    call, _ = first_call('<tool_call>{"name": "zoom", "arguments": {"box": [1, 2, 30, 40]}}</tool_call>')
    assert (call.name, call.arguments, call.problem) == ("zoom", {"box": [1, 2, 30, 40]}, None)
    call, _ = first_call('<tool_call>{"name": "zoom", "arguments": "{\\"box\\": [1, 2, 3, 4]}"}</tool_call>')
    assert call.arguments == {"box": [1, 2, 3, 4]}


def test_the_earliest_ending_call_wins():
    text = '```python\nx = 1\n```\n<tool_call>{"name": "zoom", "arguments": {}}</tool_call>'
    call, end = first_call(text)
    assert call.name == "python" and end == text.index("```\n<tool") + 3


def test_malformed_calls_say_what_is_wrong():
    call, _ = first_call("<tool_call>{name: zoom}</tool_call>")
    assert call.name is None and "not valid JSON" in call.problem
    call, _ = first_call('<tool_call>{"arguments": {}}</tool_call>')
    assert call.name is None and '"name"' in call.problem
    call, _ = first_call('<tool_call>{"name": "zoom", "arguments": [1, 2]}</tool_call>')
    assert "must be a JSON object" in call.problem


def test_a_stray_closing_tag_is_a_malformed_call():
    call, end = first_call('I think </tool_call> then <tool_call>{"name": "zoom"}</tool_call>')
    assert call.name is None and "without an opening" in call.problem and end == len("I think </tool_call>")
