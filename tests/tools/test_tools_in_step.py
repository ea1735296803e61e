"""The training step with `tools:` (Rollouts -> Batch): the policy's tokens are the loss mask, tool
output never is; the verifier judges the last policy turn; tool metrics are logged. A scripted
engine (real SmolLM2 tokenizer, no model) calls the real python tool in the sandbox and the real
verifier pool judges the answer."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_engine import FakeEngine  # noqa: E402

from mmrl.models import load_processor, resolve_model
from mmrl.recipe import load_recipe
from mmrl.rollout import SamplingConfig
from mmrl.train.batch import Batch
from mmrl.train.loop import step_tool_metrics
from mmrl.train.rollouts import Rollouts
from mmrl.train.timer import Timer

ROOT = Path(__file__).resolve().parents[2]


def script(context: str, sample: int) -> str:
    if "Tool output" in context or "<|im_start|>tool" in context:
        return "The answer is 81600."          # second turn: reads the tool's output
    if sample == 0:
        return "```python\nprint(340 * 240)\n```"   # first turn of sample 0: a tool call
    return "The answer is 5."                  # sample 1 answers without the tool (wrong)


@pytest.fixture(scope="module")
def pool():
    from mmrl_verifiers import VerifierPool
    with VerifierPool(workers=1, preload=("math",)) as p:
        yield p


def test_tool_tokens_are_context_not_loss_and_the_last_turn_is_judged(pool):
    recipe = load_recipe(ROOT / "recipes" / "tool_python.yaml", ["data.generate=null", "data.train=x.jsonl"])
    processor = load_processor(resolve_model("smollm2-135m-instruct"))
    engine = FakeEngine(processor, script)
    sample = {"question": "Solve the following multiplication: 340 * 240.", "answer": "81600"}
    rollouts = Rollouts(engine, pool, processor, recipe, [sample], ROOT, "test",
                        SamplingConfig(n=2, temperature=1.0, max_new_tokens=120), Timer())
    [group] = rollouts.groups([0])
    with_tool, without = group.responses
    assert (with_tool.tool_calls, with_tool.turns, without.tool_calls, without.turns) == (1, 2, 0, 1)
    assert (with_tool.accuracy, without.accuracy) == (1.0, 0.0)   # judged on the last policy turn
    assert with_tool.text == "The answer is 81600."
    tokens = processor.convert_ids_to_tokens(with_tool.tokens)
    tool_part = processor.decode([t for t, m in zip(with_tool.tokens, with_tool.policy_mask) if not m])
    assert "81600" in tool_part and "print" not in tool_part   # the tool's output, masked out
    policy_part = processor.decode([t for t, m in zip(with_tool.tokens, with_tool.policy_mask) if m])
    assert "print(340 * 240)" in policy_part and "The answer is 81600." in policy_part
    assert len(tokens) == len(with_tool.policy_mask) == len(with_tool.rollout_logp)
    batch = Batch([group], processor.pad_token_id or 0)
    mask = batch.response_mask()
    assert mask[0].tolist()[:len(tokens)] == [float(m) for m in with_tool.policy_mask]
    assert all(lp == 0.0 for lp, m in zip(with_tool.rollout_logp, with_tool.policy_mask) if not m)
    m = step_tool_metrics(group.responses)
    assert m["tools/use_rate"] == 0.5 and m["tools/calls_per_response"] == 0.5
    assert (m["tools/reward_with_tool"], m["tools/reward_without_tool"]) == (with_tool.reward, without.reward)
