"""Prompt + completion rows as token_logprobs inputs, with the multimodal tensors done right:
mm_token_type_ids padded with zeros over the completion (without them Qwen-VL silently drops its
M-RoPE image positions: a 0.68-nat rollout gap on smolvl) and each row's images in row order."""
from __future__ import annotations

import torch

PER_TOKEN_MM = "mm_token_type_ids"
PER_IMAGE_MM = ("pixel_values", "image_grid_thw")


def sequence_batch(prompts: list[dict], completions: list[list[int]], pad_id: int) -> dict:
    """prompts[i]: encode_prompt output for row i (a prompt may repeat for its n samples);
    completions[i]: its generated token ids. Right-padded -> input_ids, attention_mask,
    completion_mask [B, T] and mm_inputs (None for text)."""
    rows = [p["input_ids"][0].tolist() + list(c) for p, c in zip(prompts, completions)]
    width = max(map(len, rows))
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    completion_mask = torch.zeros_like(input_ids)
    # a VLM batch may mix text-only and image prompts in any order: types exist if any prompt has them
    types = torch.zeros_like(input_ids) if any(PER_TOKEN_MM in p for p in prompts) else None
    for i, (p, row) in enumerate(zip(prompts, rows)):
        n_prompt = p["input_ids"].shape[1]
        input_ids[i, :len(row)] = torch.tensor(row)
        attention_mask[i, :len(row)] = 1
        completion_mask[i, n_prompt:len(row)] = 1
        if types is not None and PER_TOKEN_MM in p:
            types[i, :n_prompt] = p[PER_TOKEN_MM][0]
    mm = None
    if types is not None:
        mm = {PER_TOKEN_MM: types}
        for key in PER_IMAGE_MM:
            present = [p[key] for p in prompts if key in p]
            if present:
                mm[key] = torch.cat(present)
    return dict(input_ids=input_ids, attention_mask=attention_mask, completion_mask=completion_mask, mm_inputs=mm)
