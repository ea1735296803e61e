"""The step batch: token-budgeted micro-batches, right-padded inputs, and response alignment.
Oracle: a response's log-probs computed through any micro-batch split equal those computed for it
alone, unpadded (a tiny random Llama; the real-model path runs in the integration tests)."""
from types import SimpleNamespace

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from mmrl.models.logprobs import token_logprobs
from mmrl.train.batch import Batch
from mmrl.train.records import Group, Response


def tiny_model():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(cfg).eval()


def make_batch(prompt_lens, completion_lens, pad_id=0):
    """One group per (prompt, response) pair, so every row has its own prompt length."""
    g = torch.Generator().manual_seed(1)
    groups = []
    for i, (p, c) in enumerate(zip(prompt_lens, completion_lens)):
        prompt = torch.randint(1, 50, (1, p), generator=g)
        tokens = torch.randint(1, 50, (c,), generator=g).tolist()
        groups.append(Group(i, {}, {"input_ids": prompt, "attention_mask": torch.ones_like(prompt)},
                            responses=[Response(tokens, [-1.0] * c, "", "stop")]))
    return Batch(groups, pad_id)


def alone(model, batch, i):
    row = SimpleNamespace(prompt=batch.group_of(i).prompt, tokens=batch.rows[i][1].tokens)
    ids = torch.cat([row.prompt["input_ids"][0], torch.tensor(row.tokens)])[None]
    mask = torch.zeros_like(ids)
    mask[0, row.prompt["input_ids"].shape[1]:] = 1
    lp = token_logprobs(model, ids, torch.ones_like(ids), mask)
    return lp[0, row.prompt["input_ids"].shape[1]:]


def test_micro_batches_respect_the_token_budget_and_cover_every_row():
    batch = make_batch([3, 9, 4, 12, 5, 2], [4, 7, 1, 9, 3, 6])
    lengths = [batch.group_of(i).prompt["input_ids"].shape[1] + len(r.tokens) for i, (_, r) in enumerate(batch.rows)]
    for budget in (1, 16, 30, 1000):
        micros = batch.micro_batches(budget)
        assert sorted(i for m in micros for i in m) == list(range(len(batch)))
        for m in micros:
            assert len(m) == 1 or len(m) * max(lengths[i] for i in m) <= budget
    assert len(batch.micro_batches(1000)) == 1 and len(batch.micro_batches(1)) == len(batch)


def test_response_mask_and_rollout_logprobs_are_aligned():
    batch = make_batch([3, 5], [4, 2])
    assert batch.T == 4
    assert batch.response_mask().tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch.rollout_logprobs().tolist() == [[-1, -1, -1, -1], [-1, -1, 0, 0]]


def test_logprobs_through_any_split_match_each_row_alone():
    model = tiny_model()
    batch = make_batch([3, 9, 4, 12, 5, 2], [4, 7, 1, 9, 3, 6])
    expected = [alone(model, batch, i) for i in range(len(batch))]
    for budget in (1, 30, 1000):
        for idx in batch.micro_batches(budget):
            x = batch.inputs(idx)
            ids, attn, comp, mm = x["input_ids"], x["attention_mask"], x["completion_mask"], x["mm_inputs"]
            assert mm is None and comp.sum() == sum(len(batch.rows[i][1].tokens) for i in idx)
            out = batch.to_response(idx, token_logprobs(model, ids, attn, comp))
            for j, i in enumerate(idx):
                n = len(batch.rows[i][1].tokens)
                torch.testing.assert_close(out[j, :n], expected[i], atol=1e-5, rtol=0)
                assert (out[j, n:] == 0).all()
