"""The multi-turn driver on a scripted engine with the real SmolLM2 tokenizer: continuations are
concatenated token ids, the policy mask covers exactly the policy's tokens, and every bad call
becomes a tool turn while the run goes on."""
import time

import pytest

from mmrl.rollout.base import GenRequest, SamplingConfig
from mmrl.rollout.multiturn import generate_with_tools
from mmrl.tools import ToolConfig, register_tool
from mmrl.tools.registry import ToolResult
from mmrl.tools.metrics import per_turn_gap, tool_metrics
from fake_engine import FakeEngine, fake_logprob

CALL = "Let me compute.\n```python\nprint(317 * 452)\n```"
AFTER_CALL = "\nI will not be seen"  # generated past the call: must be cut off


def prompt(tok, question):
    return GenRequest(tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                              add_generation_prompt=True))


def run(tok, script, questions=("q",), n=1, max_new_tokens=400, **tools):
    engine = FakeEngine(tok, script)
    out = generate_with_tools(engine, tok, [prompt(tok, q) for q in questions],
                              SamplingConfig(n=n, max_new_tokens=max_new_tokens, seed=0),
                              ToolConfig(**{"enabled": ["python"], **tools}), deterministic=True)
    return out, engine


def two_turns(context, sample):
    return CALL + AFTER_CALL if "143284" not in context else "The answer is 143284."


def test_policy_mask_covers_exactly_the_policy_tokens(tokenizer):
    (r,), engine = run(tokenizer, two_turns)
    r = r[0]
    assert (r.finish_reason, r.turns, len(r.calls), r.tool_errors) == ("stop", 2, 1, 0)
    policy = [t for t, m in zip(r.token_ids, r.policy_mask) if m]
    tool = [t for t, m in zip(r.token_ids, r.policy_mask) if not m]
    # policy tokens: the call (cut right after its closing fence), then the answer and its <|im_end|>
    assert tokenizer.decode(policy) == CALL + "The answer is 143284.<|im_end|>"
    assert tokenizer.decode(tool) == "<|im_end|>\n<|im_start|>tool\n143284\n<|im_end|>\n<|im_start|>assistant\n"
    assert r.policy_mask == [1] * r.turn_spans[0][1] + [0] * len(tool) + [1] * (r.turn_spans[1][1] - r.turn_spans[1][0])
    assert r.final_text == "The answer is 143284." and "143284" in r.text


def test_continuation_is_the_concatenation_and_logprobs_stay_with_their_tokens(tokenizer):
    (r,), engine = run(tokenizer, two_turns)
    r = r[0]
    (_, [first]), (_, [second]) = engine.calls
    assert first == r.prompt_ids
    assert second == r.prompt_ids + r.token_ids[:r.turn_spans[1][0]]  # ids, never re-tokenized text
    for i, (t, lp, m) in enumerate(zip(r.token_ids, r.logprobs, r.policy_mask)):
        assert lp == (fake_logprob(len(r.prompt_ids) + i, t) if m else 0.0)


@pytest.mark.parametrize("call,says,kind", [
    ('<tool_call>{"name": "python", "arguments": {code: 1}}</tool_call>', "malformed tool call", "malformed"),
    ('<tool_call>{"name": "shell", "arguments": {}}</tool_call>', "unknown tool 'shell'", "unknown_tool"),
    ("```python\nwhile True: pass\n```", "[timeout: the code ran longer than 1 s", "timeout"),
    ("```python\nprint('x' * 5000)\n```", "[... truncated: 3901 more characters]", None),
    ("```python\n1 / 0\n```", "ZeroDivisionError", "error"),
])
def test_bad_calls_become_tool_turns_and_the_response_goes_on(tokenizer, call, says, kind):
    script = lambda context, s: call if "<|im_start|>tool" not in context else "Done."
    (r,), _ = run(tokenizer, script, timeout_s=1.0, max_output_chars=1100, max_new_tokens=2000)
    r = r[0]
    assert (r.finish_reason, r.turns, r.final_text) == ("stop", 2, "Done.")
    assert r.calls[0].error == kind and says in r.calls[0].text
    tool_text = tokenizer.decode([t for t, m in zip(r.token_ids, r.policy_mask) if not m])
    assert says in tool_text


def test_turn_limit_ends_a_response_that_keeps_calling(tokenizer):
    (r,), _ = run(tokenizer, lambda c, s: CALL, max_turns=3)
    r = r[0]
    assert (r.finish_reason, r.turns, len(r.calls)) == ("max_turns", 3, 2)


def test_token_budget_covers_tool_tokens(tokenizer):
    (r,), _ = run(tokenizer, lambda c, s: CALL, max_turns=50, max_new_tokens=60)
    r = r[0]
    assert r.finish_reason == "length" and len(r.token_ids) <= 60 and len(r.calls) >= 1


def test_samples_and_prompts_are_batched_and_kept_apart(tokenizer):
    def script(context, s):
        if "<|im_start|>tool" in context:
            return "ok " + context.rsplit("<|im_start|>tool\n", 1)[1].split("\n")[0]
        q = "7" if "seven" in context else "9"
        return f"```python\nprint({q} * {s + 1})\n```" if s == 0 else "no tool"
    (a, b), engine = run(tokenizer, script, questions=("seven", "nine"), n=2)
    assert [x.final_text for x in a + b] == ["ok 7", "no tool", "ok 9", "no tool"]
    assert len(engine.calls) == 2 and len(engine.calls[1][1]) == 2  # one continuation round for both
    m = tool_metrics([r.use(reward) for r, reward in zip(a + b, [1.0, 0.0, 1.0, None])])
    assert m["use_rate"] == 0.5 and m["reward_with_tool"] == 1.0 and m["reward_without_tool"] == 0.0
    assert m["turns_per_response"] == 1.5


@register_tool("test_sleepy")
def sleepy(arguments, ctx):
    time.sleep(arguments["s"])
    return ToolResult(f"slept {arguments['s']}")


def test_a_slow_tool_does_not_stall_other_responses(tokenizer):
    def script(context, s):
        if "slept" in context:
            return "fine"
        secs = 2.0 if "slow" in context else 0.0
        return f'<tool_call>{{"name": "test_sleepy", "arguments": {{"s": {secs}}}}}</tool_call>'
    engine = FakeEngine(tokenizer, script)
    t0 = time.monotonic()
    out = generate_with_tools(engine, tokenizer, [prompt(tokenizer, "slow"), prompt(tokenizer, "fast")],
                              SamplingConfig(max_new_tokens=200), ToolConfig(enabled=["test_sleepy"], timeout_s=5))
    assert [g[0].final_text for g in out] == ["fine", "fine"]
    times = [t - t0 for t, _ in engine.calls]
    assert len(times) == 3 and times[1] < 1.0 <= times[2]  # the fast one continued while the slow one slept


def test_per_turn_gap_counts_policy_tokens_only(tokenizer):
    (r,), _ = run(tokenizer, two_turns)
    r = r[0]
    trainer = [lp + (0.0 if m else 5.0) for lp, m in zip(r.logprobs, r.policy_mask)]  # tool tokens differ
    trainer[r.turn_spans[1][0]] += 0.25
    gaps = per_turn_gap(r, trainer)
    assert [g["gap_max"] for g in gaps] == [0.0, 0.25]


def test_an_engine_that_ignores_the_token_ids_is_caught(tokenizer):
    class Retokenizing(FakeEngine):
        def generate(self, requests, sampling):
            out = super().generate(requests, sampling)
            for group in out:
                for c in group:
                    c.prompt_ids = c.prompt_ids[:-1]
            return out
    with pytest.raises(RuntimeError, match="prompt_token_ids"):
        generate_with_tools(Retokenizing(tokenizer, two_turns), tokenizer, [prompt(tokenizer, "q")],
                            SamplingConfig(max_new_tokens=100), ToolConfig())


def test_unknown_tool_in_the_recipe_is_a_user_error(tokenizer):
    from mmrl.errors import UserError
    with pytest.raises(UserError, match="tools.enabled: unknown tool"):
        generate_with_tools(FakeEngine(tokenizer, two_turns), tokenizer, [prompt(tokenizer, "q")],
                            SamplingConfig(max_new_tokens=100), ToolConfig(enabled=["nope"]))


def test_a_call_opened_in_the_prompt_is_completed_by_the_first_turn(tokenizer):
    engine = FakeEngine(tokenizer, lambda c, s: "```" if "<|im_start|>tool" not in c else "So 6.")
    req = prompt(tokenizer, "q")
    req.prompt += "```python\nprint(2 * 3)\n"  # an assistant prefill
    (r,), = generate_with_tools(engine, tokenizer, [req], SamplingConfig(max_new_tokens=100), ToolConfig())
    assert (r.turns, r.calls[0].text, r.final_text) == (2, "6\n", "So 6.")
