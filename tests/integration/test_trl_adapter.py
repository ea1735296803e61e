"""mmrl_verifiers inside TRL: a real `trl.GRPOTrainer` step on the embedded SmolLM2 with our math reward
function. The trainer calls it with its own completions and the dataset's gold column, and the rewards
it logs are our verdicts (recomputed here in-process, independently of the trainer and the pool). And the
reward judges when called from a script that imports torch and TRL at the top, as every TRL script does."""
import math
import os
import random

import pytest

pytestmark = pytest.mark.integration

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is the embedded wheel; nothing comes from a hub

MATH_OPTIONS = {"answer_format": "free", "think_mode": "none"}  # as the quickstart recipe scores sums


def sum_prompts(k: int, seed: int = 7) -> list[dict]:
    """The bench's task (bench/versus_trl.py): two-digit sums, chat prompts, the sum as gold."""
    rng = random.Random(seed)
    rows = []
    for _ in range(k):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        rows.append({"prompt": [{"role": "user", "content": f"What is {a}+{b}? Put the final answer in \\boxed{{}}."}],
                     "answer": str(a + b)})
    return rows


class Spy:
    """Wraps our reward function and keeps what TRL passed in and what we returned."""

    def __init__(self, reward):
        self.reward, self.calls = reward, []
        self.__name__ = reward.__name__  # TRL logs under the function's name

    def __call__(self, prompts=None, completions=None, **columns):
        scores = self.reward(prompts=prompts, completions=completions, **columns)
        self.calls.append({"completions": completions, "answer": list(columns["answer"]), "scores": scores})
        return scores


def test_grpo_trainer_step_logs_our_verdicts(tmp_path):
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from mmrl.models import resolve_model
    from mmrl_verifiers import verify
    from mmrl_verifiers.adapters import completion_text, trl_reward

    torch.manual_seed(0)
    rows = sum_prompts(2)
    reward = trl_reward("math", gold_column="answer", workers=1, **MATH_OPTIONS)
    spy = Spy(reward)
    args = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2,
                      gradient_accumulation_steps=2, num_generations=2, max_completion_length=16,
                      beta=0.0, use_vllm=False, bf16=False, use_cpu=True, report_to="none", logging_steps=1,
                      save_strategy="no", shuffle_dataset=False, seed=0, dataloader_num_workers=0)
    trainer = GRPOTrainer(model=str(resolve_model("smollm2-135m-instruct")), reward_funcs=[spy], args=args,
                          train_dataset=Dataset.from_list(rows))
    try:
        trainer.train()
    finally:
        reward.close()

    # One generation batch (2 prompts x 2 completions) went through our function once, with its golds.
    assert len(spy.calls) == 1
    call = spy.calls[0]
    assert len(call["completions"]) == 4
    assert sorted(call["answer"]) == sorted(r["answer"] for r in rows for _ in range(2))
    texts = [completion_text(c) for c in call["completions"]]
    assert all(isinstance(t, str) for t in texts)

    # What we returned are the verifier's verdicts on those completions (in-process, no pool) ...
    expected = [verify("math", t, g, **MATH_OPTIONS).score for t, g in zip(texts, call["answer"])]
    assert call["scores"] == expected
    judged = [s for s in expected if s is not None]
    assert judged, f"the verifier judged none of {texts!r}"

    # ... and what the trainer logged is their mean, under our function's name and as the total reward.
    logged = next(h for h in trainer.state.log_history if "rewards/math_reward/mean" in h)
    mean = sum(judged) / len(judged)
    assert math.isclose(logged["rewards/math_reward/mean"], mean, abs_tol=1e-6)
    assert math.isclose(logged["reward"], mean, abs_tol=1e-6)
    assert logged["completions/mean_length"] > 0


TRL_SCRIPT = r'''
import json, sys
import torch, trl  # a training script imports its trainer at the top; spawned verifier workers re-import it
from mmrl_verifiers import Verdict, VerifierPool, register
from mmrl_verifiers.adapters import trl_reward


@register("allocate")
def allocate(response, gold, **options):  # holds `response` bytes while judging
    block = bytearray(int(response))
    return Verdict(float(len(block) > 0))


if __name__ == "__main__":
    reward = trl_reward("math", gold_column="answer", workers=1)
    try:
        scores = reward(prompts=["q", "q"], completions=[r"so \boxed{42}", r"so \boxed{41}"], answer=["42", "42"])
    finally:
        reward.close()
    with VerifierPool(workers=1, memory_mb=512, preload=()) as pool:  # the cap still bounds a verification
        status = [v.status for v in pool.map([{"verifier": "allocate", "response": str(n << 20), "gold": None}
                                              for n in (64, 2048)])]
    print(json.dumps({"scores": scores, "allocate": status}))
'''


def test_reward_in_a_script_that_imports_torch_at_the_top(tmp_path):
    """The verifier workers re-import the trainer's main script (multiprocessing's spawn), torch and
    all; their memory limit must still leave room to judge (it was a MemoryError: every verdict None,
    which TRL only reports as 'All reward functions returned None') and still bound what one
    verification allocates."""
    import json
    import subprocess
    import sys

    script = tmp_path / "train_with_trl.py"
    script.write_text(TRL_SCRIPT)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["scores"] == [1.0, 0.1]
    assert result["allocate"] == ["ok", "resource_limit"]  # 64 MiB fits in 512, 2 GiB does not
