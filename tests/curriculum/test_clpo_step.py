"""CLPO's mixing logic (algorithms.md §11 steps 2-8) with fake engine calls, and the per-sample KL
scale hook of the algorithms' loss."""
import torch

from mmrl.algorithms import LossInputs, build_algorithm
from mmrl.curriculum import CLPOConfig
from mmrl.curriculum.clpo_step import clpo_stage
from mmrl.train.records import Group, Response


def _group(key, accs, sample):
    return Group(key, sample, {}, responses=[Response([1], [0.0], "", "stop", reward=a, accuracy=a) for a in accs])


class FakeEngine:
    """The stage's engine interface: chat replies and scored groups, scripted."""

    def __init__(self, reply, accs_per_rewrite):
        self.reply, self.accs, self.asked, self.rolled = reply, list(accs_per_rewrite), [], []

    def chat(self, messages, temperature, max_new_tokens):
        self.asked.extend(messages)
        return [self.reply] * len(messages)

    def groups(self, keys, samples=None):
        self.rolled.append((keys, samples))
        return [_group(k, self.accs.pop(0), s) for k, s in zip(keys, samples)]


def test_buckets_rewrites_and_mixes_hard_rewrites_first():
    # groups: hard (0/4), medium (2/4), easy (4/4), hard-but-informative (1/4)
    samples = [{"question": f"What is {k} + {k}? Give a number.", "answer": str(2 * k)} for k in range(4)]
    groups = [_group(k, accs, samples[k]) for k, accs in
              enumerate([[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])]
    engine = FakeEngine("```text\nSimply add: what is the sum here, please?\n```",
                        [[1, 0, 1, 0], [1, 1, 1, 1], [0, 1, 0, 0]])
    mixed, rewritten, m = clpo_stage(CLPOConfig(), groups, engine, "answer", "question")
    assert (m["clpo/hard"], m["clpo/medium"], m["clpo/easy"]) == (2, 1, 1)
    assert m["clpo/rewrites_asked"] == 3 and m["clpo/rewrites_valid"] == 3
    # rewrites of groups 0 (hard), 1 (medium), 3 (hard), in order; gold answers in the instructions
    asked = engine.asked
    assert "simpler" in asked[0] and "differently worded" in asked[1] and "(6)" in asked[2]
    keys, rewrites = engine.rolled[0]
    assert keys == [0, 1, 3]                                                   # a rewrite keeps its key
    assert all(r["answer"] == samples[k]["answer"] for r, k in zip(rewrites, keys))  # same gold
    assert rewrites[0]["question"] == "Simply add: what is the sum here, please?"
    assert all(g.rewritten for g in rewritten) and len(rewritten) == 3
    # kept: rewritten hard of group 0 (2/4) and of group 3 (1/4) first, then informative originals
    # (groups 1 and 3); the medium rewrite (4/4) is dropped
    assert m["clpo/rewritten_hard_kept"] == 2 and m["clpo/rewritten_medium_kept"] == 0
    assert [(g.key, g.rewritten) for g in mixed] == [(0, True), (3, True), (1, False), (3, False)]
    assert [g.responses[0].kl_weight for g in mixed] == [0.5, 0.5, 1.0, 0.5]
    assert groups[2].responses[0].kl_weight == 1.0 and groups[0].responses[0].kl_weight == 0.5


def test_nothing_informative_falls_back_to_the_full_batch_and_bad_rewrites_are_discarded():
    samples = [{"question": "q0 long enough", "answer": None}, {"question": "q1 long enough", "answer": "1"}]
    groups = [_group(0, [0, 0], samples[0]), _group(1, [1, 1], samples[1])]
    engine = FakeEngine("```text\nhi\n```", [])
    mixed, rewritten, m = clpo_stage(CLPOConfig(), groups, engine, "answer", "question")
    assert "[UNKNOWN]" in engine.asked[0]   # missing gold
    assert m["clpo/rewrites_valid"] == 0    # "hi" is under 10 characters
    assert not engine.rolled and not rewritten
    assert mixed == groups and m["clpo/fallback_full_batch"] == 1
    groups.append("a group generated later")  # the caller's list grows (rewrites): the batch must not
    assert len(mixed) == 2

def test_kl_scale_multiplies_each_samples_kl_term():
    torch.manual_seed(0)
    algo = build_algorithm("grpo", beta=1.0, max_new_tokens=4)
    logp, old, ref = torch.randn(2, 4), torch.randn(2, 4), torch.randn(2, 4)
    adv, mask = torch.zeros(2, 4), torch.ones(2, 4)  # zero advantage: the loss is the KL term alone
    full, m1 = algo.loss(LossInputs(logp, old, adv, mask, ref_logp=ref))
    half, m2 = algo.loss(LossInputs(logp, old, adv, mask, ref_logp=ref, kl_weight=torch.tensor([0.5, 0.5])))
    assert torch.isclose(half, 0.5 * full)
    only_first, _ = algo.loss(LossInputs(logp, old, adv, mask, ref_logp=ref, kl_weight=torch.tensor([1.0, 0.0])))
    second_zero, _ = algo.loss(LossInputs(logp[:1], old[:1], adv[:1], mask[:1], ref_logp=ref[:1]))
    assert torch.isclose(only_first, second_zero / 2)  # token-mean over both rows' tokens
