"""The shared-prompt forward (Prefix Grouper) computes the unshared forward's log-probs, entropies and
gradients (1e-5, fp32), on a tiny Llama and on the embedded SmolLM2; its micro-batch plan covers every
response once and keeps the token budget."""
import random

import pytest
import torch

from mmrl.models import sequence_batch, token_logprobs
from mmrl.models.logprobs import packed_logprobs
from mmrl.models.shared_prompt import pack, plan
from tests.test_models import tiny_llama

PAD = 0


def groups_of(rng: random.Random, vocab: int, n_groups=3, sizes=(1, 4)):
    """[(prompt ids, [response token lists])] with prompts and responses of different lengths."""
    out = []
    for _ in range(n_groups):
        prompt = [rng.randrange(1, vocab) for _ in range(rng.randint(2, 9))]
        out.append((prompt, [[rng.randrange(1, vocab) for _ in range(rng.randint(1, 7))]
                             for _ in range(rng.randint(*sizes))]))
    return out


def unshared(model, groups, temperature, with_entropy):
    """[b, T] from the plain path: one prompt copy per response (responses numbered group by group)."""
    prompts = [{"input_ids": torch.tensor([p])} for p, rs in groups for _ in rs]
    responses = [r for _, rs in groups for r in rs]
    b = sequence_batch(prompts, responses, PAD)
    out = token_logprobs(model, b["input_ids"], b["attention_mask"], b["completion_mask"],
                         temperature=temperature, with_entropy=with_entropy, chunk_size=5)
    out = out if with_entropy else (out,)
    T = max(map(len, responses))
    starts = [len(p["input_ids"][0]) for p in prompts]
    return [torch.stack([torch.nn.functional.pad(o[i, s:s + len(r)], (0, T - len(r)))
                         for i, (s, r) in enumerate(zip(starts, responses))]) for o in out]


def shared(model, groups, temperature, with_entropy, split_group=False):
    """The same [b, T] from packed rows; split_group puts each group's responses in two rows."""
    rows, index = [], 0
    for prompt, responses in groups:
        numbered = [(index + k, r) for k, r in enumerate(responses)]
        index += len(responses)
        parts = [numbered[:1], numbered[1:]] if split_group and len(numbered) > 1 else [numbered]
        rows += [(torch.tensor(prompt), part) for part in parts]
    T = max(len(r) for _, rs in groups for r in rs)
    out = packed_logprobs(model, pack(rows, PAD), (index, T), temperature, with_entropy, chunk_size=5)
    return list(out) if with_entropy else [out]


@pytest.mark.parametrize("split_group,checkpointing", [(False, False), (True, False), (False, True)])
def test_packed_rows_give_the_unshared_logprobs_entropies_and_gradients(split_group, checkpointing):
    # checkpointing: the layers rerun in backward, where the grouped attention must run again
    model, rng = tiny_llama(), random.Random(0)
    if checkpointing:
        model.activation_checkpointing_enable()
        model.train()
    groups = groups_of(rng, 300)
    lp, ent = unshared(model, groups, 0.7, True)
    slp, sent = shared(model, groups, 0.7, True, split_group)
    torch.testing.assert_close(slp, lp, atol=1e-5, rtol=0)
    torch.testing.assert_close(sent, ent, atol=1e-5, rtol=0)

    weights = torch.randn(lp.shape)
    grads = []
    for forward in (unshared, lambda *a: shared(*a, split_group)):
        model.zero_grad()
        (forward(model, groups, 1.0, False)[0] * weights).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-5, rtol=1e-4, msg=name)


def test_a_response_never_sees_another_response_of_its_group():
    # change one response's tokens: the other responses' log-probs must not move
    model, rng = tiny_llama(), random.Random(1)
    groups = groups_of(rng, 300, n_groups=1, sizes=(3, 3))
    before = shared(model, groups, 1.0, False)[0]
    prompt, responses = groups[0]
    changed = [(prompt, [responses[0], [7] * len(responses[1]), responses[2]])]
    after = shared(model, changed, 1.0, False)[0]
    torch.testing.assert_close(after[[0, 2]], before[[0, 2]], atol=0, rtol=0)
    assert not torch.equal(after[1], before[1])


def test_positions_restart_per_response_and_each_response_sees_its_prompt_and_itself():
    packed = pack([(torch.tensor([1, 2, 3]), [(0, [4, 5]), (1, [6])]), (torch.tensor([9]), [(2, [8])])], PAD)
    assert packed.input_ids.tolist() == [[1, 2, 3, 4, 5, 6], [9, 8, 0, 0, 0, 0]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 4, 3], [0, 1, 0, 0, 0, 0]]
    lay = packed.layout  # flattened indices: row 0 is 0..5, row 1 is 6..11
    assert lay.prompt_q.tolist() == [[0, 1, 2], [6, 6, 6]] and lay.prompt_valid.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert lay.resp_q.tolist() == [[3, 4], [5, 5], [7, 7]] and lay.resp_valid.tolist() == [[1, 1], [1, 0], [1, 0]]
    # response 1 ([6]) sees the 3 prompt tokens and itself; response 2 ([8]) only its prompt token and itself
    assert lay.resp_k[1].tolist() == [0, 1, 2, 5, 5] and lay.resp_mask[1, 0, 0].tolist() == [1, 1, 1, 1, 0]
    assert lay.resp_k[2].tolist() == [6, 6, 6, 7, 7] and lay.resp_mask[2, 0, 0].tolist() == [1, 0, 0, 1, 0]
    assert lay.resp_mask[0, 0].tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]  # causal within the response
    assert lay.prompt_mask[0, 0].tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert packed.targets.tolist() == [4, 5, 6, 8]
    assert [c.tolist() for c in packed.source] == [[0, 0, 0, 1], [2, 3, 2, 0]]
    assert [c.tolist() for c in packed.dest] == [[0, 0, 1, 2], [0, 1, 0, 0]]


def test_plan_covers_every_response_once_within_the_budget():
    rng = random.Random(2)
    groups, index = [], 0
    for _ in range(12):
        sizes = [rng.randint(1, 300) for _ in range(rng.randint(1, 8))]
        groups.append((rng.randint(5, 200), [(index + k, n) for k, n in enumerate(sizes)]))
        index += len(sizes)
    length = {i: n for _, rs in groups for i, n in rs}
    prompt_of = {i: p for p, rs in groups for i, _ in rs}
    for budget in (256, 1024, 4096):
        micros = plan(groups, budget)
        seen = [i for micro in micros for row in micro for i in row]
        assert sorted(seen) == list(range(index))
        for micro in micros:
            widths = [prompt_of[row[0]] + sum(length[i] for i in row) for row in micro]
            assert all(len({prompt_of[i] for i in row}) == 1 for row in micro)  # one group per row
            # a row over the budget holds a single response; otherwise rows x longest <= budget
            assert len(micro) * max(widths) <= budget or (len(micro) == 1 and len(micro[0]) == 1)


@pytest.mark.integration
def test_smollm2_shared_prompt_equals_the_plain_forward():
    from mmrl.models.backbone import load_policy

    model, tok = load_policy("smollm2-135m-instruct", "fp32")
    rng = random.Random(3)
    groups = []
    for a, b in ((12, 34), (56, 7)):
        text = tok.apply_chat_template([{"role": "user", "content": f"What is {a}+{b}?"}],
                                       add_generation_prompt=True, tokenize=False)
        prompt = tok.encode(text, add_special_tokens=False)
        groups.append((prompt, [tok.encode(f"The answer is {a + b + d}.") + [rng.randrange(100, 40000)]
                                for d in range(4)]))
    lp, ent = unshared(model, groups, 1.0, True)
    slp, sent = shared(model, groups, 1.0, True)
    # 30 fp32 layers summed in another order: equal to 1e-5 relative (the largest gap seen: 3e-6)
    torch.testing.assert_close(slp, lp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sent, ent, atol=1e-5, rtol=1e-5)


def test_smolvl_shared_image_prompts_equal_the_plain_forward():
    """A VLM group's prompt, images included, runs once: the packed rows carry each prompt's image
    tensors once and give M-RoPE positions as the unshared rows have them (the prompt's from the
    model's image index, a response's text positions after the prompt's largest). Log-probs,
    entropies and gradients (vision tower and language model) equal the unshared forward's, with
    images of two sizes and a text-only prompt in the same micro-batch, in any order."""
    from PIL import Image

    from mmrl.algorithms.papo import random_patch_blackening
    from mmrl.data.chat import chat_text
    from mmrl.models.backbone import encode_prompt, load_policy
    from mmrl.scenes import build
    from mmrl.train.batch import Batch
    from mmrl.train.records import Group, Response

    model, proc = load_policy("smolvl", "fp32")
    tok, rng = proc.tokenizer, random.Random(5)
    count, gui = build.items("heldout", 1, 1, ["count"])[0], build.items("heldout", 1, 1, ["gui"])[0]
    prompts = [(gui.question, [gui.image]), ("What is 12+34?", []), (count.question, [count.image]),
               ("Describe it.", [Image.new("RGB", (224, 224), "white")])]
    groups = []
    for key, (text, images) in enumerate(prompts):
        prompt = encode_prompt(proc, chat_text(proc, text, len(images)), images)
        responses = [Response(tok.encode(f"<answer>{rng.randrange(500)}</answer>") + [rng.randrange(100, 40000)],
                              [0.0] * 7, "", "stop") for _ in range(rng.randint(2, 3))]
        groups.append(Group(key, {}, prompt, images, responses=[Response(r.tokens, [0.0] * len(r.tokens), "", "stop")
                                                                for r in responses]))
        if images:  # PAPO's masked copy: the same tokens, other pixels
            groups[-1].masked_prompt = encode_prompt(proc, chat_text(proc, text, len(images)),
                                                     [random_patch_blackening(im, rng=rng) for im in images])
    batch = Batch(groups, tok.pad_token_id)
    assert batch.shareable
    params = [p for n, p in model.named_parameters() if n.endswith(("visual.blocks.0.attn.qkv.weight",
                                                                    "layers.3.self_attn.q_proj.weight"))]
    assert len(params) == 2

    def forward(shared: bool, masked: bool = False):
        model.zero_grad()
        rows = list(range(len(batch)))
        if shared:
            micro = [[i for i in rows if batch.rows[i][0] == g] for g in range(len(groups))]
            lp, ent = packed_logprobs(model, batch.packed(micro, masked), (len(rows), batch.T), with_entropy=True)
        else:
            x = batch.inputs(rows, masked)
            lp, ent = token_logprobs(model, x["input_ids"], x["attention_mask"], x["completion_mask"],
                                     x["mm_inputs"], with_entropy=True)
            lp, ent = batch.to_response(rows, lp), batch.to_response(rows, ent)
        lp.sum().backward()
        return lp.detach(), ent.detach(), [p.grad.clone() for p in params]

    plain_lp = {}
    for masked in (False, True):  # PAPO's masked-image prompts share the same way
        plain, packed = forward(False, masked), forward(True, masked)
        assert (plain[0] != 0).sum() == sum(len(r.tokens) for _, r in batch.rows)
        torch.testing.assert_close(packed[0], plain[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(packed[1], plain[1], atol=1e-4, rtol=1e-4)
        for g_packed, g_plain in zip(packed[2], plain[2]):
            torch.testing.assert_close(g_packed, g_plain, atol=1e-4, rtol=1e-3)
        plain_lp[masked] = plain[0]
    image_rows = [i for i, (g, _) in enumerate(batch.rows) if groups[g].images]
    assert (plain_lp[True][image_rows] - plain_lp[False][image_rows]).abs().max() > 0.01  # the masked images were read
    text_rows = [i for i, (g, _) in enumerate(batch.rows) if not groups[g].images]
    assert torch.equal(plain_lp[True][text_rows], plain_lp[False][text_rows])  # a text prompt has nothing to mask
