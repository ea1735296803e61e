"""Shared-prompt rows (Prefix Grouper, arXiv 2506.05433): a group's prompt runs once and each of its
responses attends to the prompt's keys and values, instead of one prompt copy per response.

One packed row is [prompt, response 1, ..., response k] with a 4D attention mask (a response token
sees the prompt and the earlier tokens of its own response, never another response) and the
positions each token has in its own unshared sequence (the prompt 0..P-1, every response P, P+1, ...).
Every token then computes what it computes in the unshared row, so log-probs and gradients are the
unshared forward's (the prompt's gradient is the sum over its responses, as with G copies); a group
of G responses costs P + sum(len) tokens instead of G*P + sum(len).

Text backbones only: a VLM's positions (M-RoPE) come from the model's own index over the image
tokens, so VLM batches keep the unshared rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PackedRows:
    input_ids: torch.Tensor       # [r, L] right-padded with pad_id
    position_ids: torch.Tensor    # [r, L] each token's position in its unshared sequence (0 on padding)
    attention_mask: torch.Tensor  # [r, 1, L, L] bool, True = the query (dim 2) may attend to the key (dim 3)
    source: tuple[torch.Tensor, torch.Tensor]  # (row, col) [N] of the hidden state that predicts each scored token
    targets: torch.Tensor         # [N] the scored tokens
    dest: tuple[torch.Tensor, torch.Tensor]    # (response, token) [N]: where each score goes in [b, T]


def pack(rows: list[tuple[torch.Tensor, list[tuple[int, list[int]]]]], pad_id: int) -> PackedRows:
    """rows: per packed row, (prompt ids [P], [(response index, its token ids), ...]). The response
    index is the row of the [b, T] output (responses in the order the caller numbers them)."""
    width = max(len(p) + sum(len(t) for _, t in resp) for p, resp in rows)
    n = len(rows)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    pos = torch.zeros((n, width), dtype=torch.long)
    seg = torch.full((n, width), -1, dtype=torch.long)  # -1 padding, 0 prompt, k response k
    src_r, src_c, tgt, dst_r, dst_c = [], [], [], [], []
    for r, (prompt, responses) in enumerate(rows):
        P = len(prompt)
        ids[r, :P], pos[r, :P], seg[r, :P] = prompt, torch.arange(P), 0
        at = P
        for k, (index, tokens) in enumerate(responses, start=1):
            m = len(tokens)
            ids[r, at:at + m] = torch.as_tensor(tokens, dtype=torch.long)
            pos[r, at:at + m] = torch.arange(P, P + m)
            seg[r, at:at + m] = k
            # token t of the response is predicted by the hidden state before it: the prompt's last
            # token for t = 0, the response's own token t-1 after that
            src_c += [P - 1] + list(range(at, at + m - 1))
            src_r += [r] * m
            tgt += list(tokens)
            dst_r += [index] * m
            dst_c += list(range(m))
            at += m
    q, k = seg[:, :, None], seg[:, None, :]
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    visible = causal & (k >= 0) & ((k == 0) | (k == q))
    visible |= torch.eye(width, dtype=torch.bool)  # a padding query sees itself (no all-masked softmax row)
    as_long = lambda v: torch.tensor(v, dtype=torch.long)  # noqa: E731
    return PackedRows(ids, pos, visible[:, None], (as_long(src_r), as_long(src_c)), as_long(tgt),
                      (as_long(dst_r), as_long(dst_c)))


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
