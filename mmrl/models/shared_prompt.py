"""Shared-prompt rows (Prefix Grouper, arXiv 2506.05433): a group's prompt runs once and each of its
responses attends to the prompt's keys and values, instead of one prompt copy per response.

A packed row is [prompt, response 1, ..., response k]; each token keeps the position it has in its
own unshared sequence (the prompt 0..P-1, every response P, P+1, ...). The attention is grouped the
paper's way: prompt queries attend causally within the prompt; the queries of response j attend to
[prompt keys; response j's keys] (causal on its own part), one small attention per response, never
the dense row (which would spend most of its work on response pairs that may not see each other).
Every token computes what it computes in the unshared row, so log-probs and gradients are the
unshared forward's (the prompt's gradient is the sum over its responses, as with G copies); a group
of G responses costs P + sum(len) tokens instead of G*P + sum(len).

A VLM's prompt carries its images: the packed row carries them once (the vision tower also runs
once per group, not per response). Its positions are M-RoPE's [3, ...]: the prompt's come from the
model's own index over its image tokens (get_rope_index), and a response's text positions continue
from the prompt's largest, as they do in the unshared row (rope_positions).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

ATTENTION = "mmrl_shared_prompt"


@dataclass
class Layout:
    """Where each query and key of the grouped attention sits in the flattened [rows * L] tokens."""
    prompt_q: torch.Tensor     # [r, Pm] prompt token t of row r (padding: the row's token 0)
    prompt_mask: torch.Tensor  # [r, 1, Pm, Pm] bool, True = may attend
    resp_q: torch.Tensor       # [n, Rm] token t of response n (padding: its first token)
    resp_k: torch.Tensor       # [n, Pm + Rm] its row's prompt keys, then its own
    resp_mask: torch.Tensor    # [n, 1, Rm, Pm + Rm]
    prompt_valid: torch.Tensor  # [r, Pm] bool: real prompt tokens
    resp_valid: torch.Tensor    # [n, Rm] bool: real response tokens


@dataclass
class PackedRows:
    input_ids: torch.Tensor       # [r, L] right-padded with pad_id
    position_ids: torch.Tensor    # [r, L] each token's position in its unshared sequence (0 on padding)
    layout: Layout
    source: tuple[torch.Tensor, torch.Tensor]  # (row, col) [N] of the hidden state that predicts each scored token
    targets: torch.Tensor         # [N] the scored tokens
    dest: tuple[torch.Tensor, torch.Tensor]    # (response, token) [N]: where each score goes in [b, T]
    # A VLM's prompts' multimodal tensors, each prompt's once, in row order (pixel_values,
    # image_grid_thw; mm_token_type_ids [r, L], 0 past the prompt); empty for text prompts
    mm_inputs: dict = field(default_factory=dict)
    grids: list = field(default_factory=list)  # per row, its prompt's image_grid_thw (for its positions)


def pack(rows: list[tuple[torch.Tensor, list[tuple[int, list[int]]]]], pad_id: int) -> PackedRows:
    """rows: per packed row, (prompt ids [P], [(response index, its token ids), ...]). The response
    index is the row of the [b, T] output (responses in the order the caller numbers them)."""
    width = max(len(p) + sum(len(t) for _, t in resp) for p, resp in rows)
    n = len(rows)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    pos = torch.zeros((n, width), dtype=torch.long)
    src_r, src_c, tgt, dst_r, dst_c, spans = [], [], [], [], [], []  # spans: (row, start, length) per response
    for r, (prompt, responses) in enumerate(rows):
        P = len(prompt)
        ids[r, :P], pos[r, :P] = prompt, torch.arange(P)
        at = P
        for index, tokens in responses:
            m = len(tokens)
            ids[r, at:at + m] = torch.as_tensor(tokens, dtype=torch.long)
            pos[r, at:at + m] = torch.arange(P, P + m)
            # token t of the response is predicted by the hidden state before it: the prompt's last
            # token for t = 0, the response's own token t-1 after that
            src_c += [P - 1] + list(range(at, at + m - 1))
            src_r += [r] * m
            tgt += list(tokens)
            dst_r += [index] * m
            dst_c += list(range(m))
            spans.append((r, at, m))
            at += m
    as_long = lambda v: torch.tensor(v, dtype=torch.long)  # noqa: E731
    layout = _layout([len(p) for p, _ in rows], spans, width)
    return PackedRows(ids, pos, layout, (as_long(src_r), as_long(src_c)), as_long(tgt), (as_long(dst_r), as_long(dst_c)))


def pack_prompts(prompts: list[dict], responses: list[list[tuple[int, list[int]]]], pad_id: int) -> PackedRows:
    """pack() of encode_prompt outputs, one packed row per prompt with its (response index, token ids);
    a VLM's prompts bring their multimodal tensors, each prompt's once."""
    from .batch import sequence_batch
    from .families import TENSOR_KINDS

    packed = pack([(p["input_ids"][0], r) for p, r in zip(prompts, responses)], pad_id)
    mm = sequence_batch(prompts, [[]] * len(prompts), pad_id)["mm_inputs"]
    if mm:  # per-token tensors are [r, longest prompt]: zeros over the responses
        width = packed.input_ids.shape[1]
        packed.mm_inputs = {name: torch.nn.functional.pad(v, (0, width - v.shape[1]))
                            if TENSOR_KINDS[name] == "token" else v for name, v in mm.items()}
        packed.grids = [p.get("image_grid_thw") for p in prompts]
    return packed


def rope_positions(model, packed: PackedRows) -> torch.Tensor:
    """[3, r, L] M-RoPE positions of packed VLM rows (`model`: the VLM's base model). The prompt's
    are the model's index over its image tokens; a response's tokens get the text positions of its
    unshared sequence, shifted by the prompt's rope delta (largest prompt position + 1 - P), as
    generation gives them."""
    prompt_lens = packed.layout.prompt_valid.sum(-1).tolist()
    out = packed.position_ids[None].repeat(3, 1, 1)
    types = packed.mm_inputs["mm_token_type_ids"]
    for r, (P, grid) in enumerate(zip(prompt_lens, packed.grids)):
        ids = packed.input_ids[r:r + 1, :P]
        pos, delta = model.get_rope_index(ids, mm_token_type_ids=types[r:r + 1, :P], image_grid_thw=grid)
        out[:, r, :P] = pos[:, 0]
        out[:, r, P:] += delta.reshape(()).to(out.dtype)
    return out


def _layout(prompt_lens: list[int], spans: list[tuple[int, int, int]], width: int) -> Layout:
    Pm, Rm = max(prompt_lens), max(m for _, _, m in spans)
    P = torch.tensor(prompt_lens)
    t = torch.arange(Pm)
    prompt_valid = t[None, :] < P[:, None]                                   # [r, Pm]
    rows = torch.arange(len(prompt_lens))[:, None] * width
    prompt_q = rows + torch.where(prompt_valid, t[None, :], 0)
    causal = torch.ones(Pm, Pm, dtype=torch.bool).tril()
    prompt_mask = (causal[None] & prompt_valid[:, None, :])[:, None]  # real keys, not later; all see key 0

    r_of, start, m = (torch.tensor(v) for v in zip(*spans))
    u = torch.arange(Rm)
    resp_valid = u[None, :] < m[:, None]                                     # [n, Rm]
    resp_q = (r_of * width + start)[:, None] + torch.where(resp_valid, u[None, :], 0)
    resp_k = torch.cat([prompt_q[r_of], resp_q], dim=1)                      # [n, Pm + Rm]
    sees_prompt = prompt_valid[r_of][:, None, :].expand(-1, Rm, -1)          # [n, Rm, Pm]
    sees_own = torch.ones(Rm, Rm, dtype=torch.bool).tril()[None] & resp_valid[:, None, :]
    resp_mask = torch.cat([sees_prompt, sees_own], dim=2)[:, None]           # [n, 1, Rm, Pm + Rm]
    return Layout(prompt_q, prompt_mask, resp_q, resp_k, resp_mask, prompt_valid, resp_valid)


def attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, shared_prompt=None, **kwargs):
    """mmrl's attention implementation (transformers' AttentionInterface): query [b, h, L, d], key/value
    [b, kv, L, d] -> ([b, L, h, d], None). Packed rows (a forward given `shared_prompt=Layout`) take the
    grouped attention; every other forward (generation, unshared rows) is transformers' sdpa."""
    if shared_prompt is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    lay: Layout = shared_prompt
    b, h, L, d = query.shape
    groups = h // key.shape[1]
    flat = lambda x: x.transpose(1, 2).reshape(b * L, x.shape[1], d)  # noqa: E731  [b*L, heads, d]
    q, k, v = flat(query), flat(key), flat(value)
    take = lambda x, idx, rep=1: x[idx].transpose(1, 2).repeat_interleave(rep, dim=1)  # noqa: E731  [n, h, len, d]
    sdpa = torch.nn.functional.scaled_dot_product_attention
    p_out = sdpa(take(q, lay.prompt_q), take(k, lay.prompt_q, groups), take(v, lay.prompt_q, groups),
                 attn_mask=lay.prompt_mask, dropout_p=dropout, scale=scaling)
    r_out = sdpa(take(q, lay.resp_q), take(k, lay.resp_k, groups), take(v, lay.resp_k, groups),
                 attn_mask=lay.resp_mask, dropout_p=dropout, scale=scaling)
    out = q.new_zeros(b * L, h, d)
    out = out.index_put((lay.prompt_q[lay.prompt_valid],), p_out.transpose(1, 2)[lay.prompt_valid])
    out = out.index_put((lay.resp_q[lay.resp_valid],), r_out.transpose(1, 2)[lay.resp_valid])
    return out.reshape(b, L, h, d), None


def enable(model) -> None:
    """Make `model` (loaded with sdpa, as mmrl loads them; a VLM's language model) run `attention`: the same as sdpa
    until a forward passes a Layout. Set on the model, not around a forward, because gradient
    checkpointing reruns the layers in backward, outside any context."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    if ATTENTION not in AttentionInterface._global_mapping:
        AttentionInterface.register(ATTENTION, attention)
        AttentionMaskInterface.register(ATTENTION, sdpa_mask)
    # A VLM's language model only: the vision tower's attention stays sdpa (it is handed the same
    # keyword arguments, and sdpa ignores the layout)
    text = getattr(model.base_model, "language_model", model)
    if text.config._attn_implementation != ATTENTION:
        text.set_attn_implementation(ATTENTION)


def plan(groups: list[tuple[int, list[tuple[int, int]]]], token_budget: int) -> list[list[list[int]]]:
    """Micro-batches of packed rows: groups = [(prompt length, [(response index, length), ...]), ...];
    returns per micro-batch its packed rows, each a list of response indices of one group. A group's
    responses fill rows of at most token_budget tokens (a row holds at least one response); rows go
    into a micro-batch while rows x longest <= token_budget, as the unshared micro-batches do."""
    packed: list[tuple[int, list[int]]] = []
    for prompt_len, responses in groups:
        row, length = [], prompt_len
        for index, n in sorted(responses, key=lambda x: x[1]):
            if row and length + n > token_budget:
                packed.append((length, row))
                row, length = [], prompt_len
            row.append(index)
            length += n
        if row:
            packed.append((length, row))
    out, cur, longest = [], [], 0
    for length, row in sorted(packed, key=lambda x: x[0]):
        if cur and (len(cur) + 1) * max(longest, length) > token_budget:
            out.append(cur)
            cur, longest = [], 0
        cur.append(row)
        longest = max(longest, length)
    return out + [cur] if cur else out
