"""CLPO's mixing logic (algorithms.md §11 steps 2-8) with fake engine calls, and the per-sample KL
scale hook of the algorithms' loss."""
from types import SimpleNamespace

import torch

from mmrl.algorithms import build_algorithm
from mmrl.curriculum import CLPOConfig
from mmrl.curriculum.clpo_step import clpo_mix
from mmrl.algorithms import LossInputs


def _rows(accs_per_group, first_key=0):
    rows, accuracies, groups = [], [], []
    for g, accs in enumerate(accs_per_group):
        groups.append(list(range(len(rows), len(rows) + len(accs))))
        for a in accs:
            rows.append(SimpleNamespace(group=g, prompt_key=first_key + g))
            accuracies.append(a)
    return rows, accuracies, groups


def test_buckets_rewrites_and_mixes_hard_rewrites_first():
    # groups: hard (0/4), medium (2/4), easy (4/4), hard-but-informative (1/4)
    rows, acc, groups = _rows([[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    samples = [{"question": f"What is {k} + {k}? Give a number.", "answer": str(2 * k)} for k in range(4)]
    asked, rolled = [], []

    def rewrite(instructions):
        asked.extend(instructions)
        return ["```text\nSimply add: what is the sum here, please?\n```"] * len(instructions)

    def rollout(rewritten, original_index):
        rolled.append((rewritten, original_index))
        out = []
        for k, accs in enumerate([[1, 0, 1, 0], [1, 1, 1, 1], [0, 1, 0, 0]][:len(rewritten)]):
            out.append(list(range(len(rows), len(rows) + 4)))
            for a in accs:
                rows.append(SimpleNamespace(group=10 + k, prompt_key=original_index[k]))
                acc.append(a)
        return out

    mixed, m = clpo_mix(CLPOConfig(), groups, rows, acc, samples, "answer", "question", rewrite, rollout)
    assert (m["clpo/hard"], m["clpo/medium"], m["clpo/easy"]) == (2, 1, 1)
    assert m["clpo/rewrites_asked"] == 3 and m["clpo/rewrites_valid"] == 3
    # rewrites of groups 0 (hard), 1 (medium), 3 (hard), in order; gold answers in the instructions
    assert "simpler" in asked[0] and "differently worded" in asked[1] and "(6)" in asked[2]
    rewritten, original_index = rolled[0]
    assert original_index == [0, 1, 3]
    assert all(r["answer"] == samples[i]["answer"] for r, i in zip(rewritten, original_index))  # same gold
    assert rewritten[0]["question"] == "Simply add: what is the sum here, please?"
    # kept: rewritten hard of group 0 (2/4) and of group 3 (1/4) first, then informative originals
    # (groups 1 and 3); the medium rewrite (4/4) is dropped
    assert m["clpo/rewritten_hard_kept"] == 2 and m["clpo/rewritten_medium_kept"] == 0
    assert [rows[g[0]].group for g in mixed] == [10, 12, 1, 3]
    assert [rows[g[0]].kl_scale for g in mixed] == [0.5, 0.5, 1.0, 0.5]
    assert rows[groups[2][0]].kl_scale == 1.0 and rows[groups[0][0]].kl_scale == 0.5


def test_nothing_informative_falls_back_to_the_full_batch_and_bad_rewrites_are_discarded():
    rows, acc, groups = _rows([[0, 0], [1, 1]])
    samples = [{"question": "q0 long enough", "answer": None}, {"question": "q1 long enough", "answer": "1"}]
    asked = []
    mixed, m = clpo_mix(CLPOConfig(), groups, rows, acc, samples, "answer", "question",
                        lambda ins: asked.extend(ins) or ["```text\nhi\n```"] * len(ins),
                        lambda *_: (_ for _ in ()).throw(AssertionError("nothing valid to roll out")))
    assert "[UNKNOWN]" in asked[0]          # missing gold
    assert m["clpo/rewrites_valid"] == 0    # "hi" is under 10 characters
    assert mixed == groups and m["clpo/fallback_full_batch"] == 1


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
