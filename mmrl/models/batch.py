"""Prompt + completion rows as token_logprobs inputs, with the multimodal tensors done right: the
family's per-token tensors (Qwen-VL: mm_token_type_ids) padded with zeros over the completion
(without them Qwen-VL silently drops its M-RoPE image positions: a 0.68-nat rollout gap on smolvl)
and its per-image tensors concatenated in row order; a completion whose tool turns show images
(zoom) brings its own of both, after its prompt's. Which name is which is declared by the family
adapters (mmrl/models/families), never here."""
from __future__ import annotations

import torch

from .families import TENSOR_KINDS, Family

TEXT = ("input_ids", "attention_mask")


def sequence_batch(prompts: list[dict], completions: list[list[int]], pad_id: int, family: Family | None = None,
                   completion_inputs: list[dict | None] | None = None) -> dict:
    """prompts[i]: encode_prompt output for row i (a prompt may repeat for its n samples);
    completions[i]: its generated token ids. Right-padded -> input_ids, attention_mask,
    completion_mask [B, T] and mm_inputs (None for text). family: the prompts' adapter; by default
    the tensor kinds every registered family declares. completion_inputs[i]: None, or the tensors of
    images completion i shows in its tool turns (backbone.image_inputs): its per-token tensors
    continue the prompt's, its images follow the prompt's."""
    kinds = TENSOR_KINDS if family is None else {**{k: "token" for k in family.per_token},
                                                  **{k: "image" for k in family.per_image}}
    own = [c or {} for c in completion_inputs] if completion_inputs is not None else [{}] * len(prompts)
    extra = list(dict.fromkeys(k for d in [*prompts, *own] for k in d if k not in TEXT))
    unknown = [k for k in extra if k not in kinds]
    if unknown:
        raise ValueError(f"prompt tensors {unknown} are declared by no family adapter (mmrl/models/families)")
    rows = [p["input_ids"][0].tolist() + list(c) for p, c in zip(prompts, completions)]
    width = max(map(len, rows))
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    completion_mask = torch.zeros_like(input_ids)
    # a VLM batch may mix text-only and image prompts in any order: a per-token tensor exists if any
    # prompt has it, zeros where a row has none
    mm = {k: torch.zeros((len(rows), width), dtype=next(d[k] for d in [*prompts, *own] if k in d).dtype)
          for k in extra if kinds[k] == "token"}
    for i, (p, c, row) in enumerate(zip(prompts, own, rows)):
        n_prompt = p["input_ids"].shape[1]
        input_ids[i, :len(row)] = torch.tensor(row)
        attention_mask[i, :len(row)] = 1
        completion_mask[i, n_prompt:len(row)] = 1
        for k in mm:
            if k in p:
                mm[k][i, :n_prompt] = p[k][0]
            if k in c:
                mm[k][i, n_prompt:len(row)] = c[k][0]
    for k in extra:
        if kinds[k] == "image":  # row by row, each row's prompt images then its completion's: placeholder order
            mm[k] = torch.cat([d[k] for p, c in zip(prompts, own) for d in (p, c) if k in d])
    return dict(input_ids=input_ids, attention_mask=attention_mask, completion_mask=completion_mask,
                mm_inputs=mm or None)
