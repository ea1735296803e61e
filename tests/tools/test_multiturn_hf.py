"""The driver on the real transformers engine (SmolLM2, fp32): across turns, the rollout log-probs
of every policy token equal a teacher-forced forward of the concatenated ids (the per-turn gap),
and tool tokens are outside the mask."""
import pytest
import torch

from mmrl.models import token_logprobs
from mmrl.rollout.base import GenRequest, SamplingConfig
from mmrl.rollout.multiturn import generate_with_tools
from mmrl.tools import ToolConfig
from mmrl.tools.metrics import per_turn_gap
from token_engines import TokenHFEngine

pytestmark = pytest.mark.integration
SYSTEM = "Use Python for arithmetic: write a ```python block that prints the result, then state the answer."


def test_multiturn_logprobs_match_a_teacher_forced_forward():
    engine = TokenHFEngine("smollm2-135m-instruct", dtype="fp32")
    tok = engine.tokenizer
    requests = []
    for a, b in [(317, 452), (808, 936)]:
        text = tok.apply_chat_template([{"role": "system", "content": SYSTEM},
                                        {"role": "user", "content": f"What is {a} * {b}?"}],
                                       tokenize=False, add_generation_prompt=True)
        requests.append(GenRequest(text + f"```python\nprint({a} * {b})\n"))  # the call is under way: a tool turn is near-certain
    sampling = SamplingConfig(n=2, temperature=0.7, max_new_tokens=40, seed=3)
    out = generate_with_tools(engine, tok, requests, sampling, ToolConfig(max_turns=3), deterministic=True)
    rollouts = [r for group in out for r in group]
    assert len(rollouts) == 4 and sum(r.turns >= 2 for r in rollouts) >= 2, [r.text for r in rollouts]
    assert any("143284" in tok.decode([t for t, m in zip(r.token_ids, r.policy_mask) if not m]) for r in rollouts)

    rows = [r.prompt_ids + r.token_ids for r in rollouts]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), engine.pad, dtype=torch.long)
    attention, policy = torch.zeros_like(ids), torch.zeros_like(ids)
    for i, (r, row) in enumerate(zip(rollouts, rows)):
        ids[i, :len(row)], attention[i, :len(row)] = torch.tensor(row), 1
        policy[i, len(r.prompt_ids):len(row)] = torch.tensor(r.policy_mask)
    with torch.no_grad():
        trainer = token_logprobs(engine.model, ids, attention, policy, temperature=sampling.temperature)
    worst = 0.0
    for i, r in enumerate(rollouts):
        got = trainer[i, len(r.prompt_ids):len(rows[i])].tolist()
        for turn in per_turn_gap(r, got):
            worst = max(worst, turn["gap_max"])
        assert all(lp == 0.0 for lp, m in zip(r.logprobs, r.policy_mask) if not m)
    print(f"per-turn gap max {worst:.2e}")
    assert worst < 1e-4
