"""Alignment (LLaVA stage 1) helpers: caption examples, batches with loss on the caption only, and
saving/loading the vision tower + merger (the only weights alignment changes)."""
from __future__ import annotations

import random
from pathlib import Path

from .items import Item, facts

# Plain requests for a description: never the RL question formats (those are left for RL to learn).
PROMPTS = ("Describe the image.", "What is in this picture?", "Give a short description of the image.",
           "Describe what you see.")
VISION_PREFIX = "model.visual."


def example(item: Item, rng: random.Random, captions: str = "plain") -> tuple[list, str]:
    """(chat messages with the image, the caption to learn). captions="facts": a shape scene's
    caption is one fact per sentence (items.facts); text scenes and GUI screens keep their caption."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": rng.choice(PROMPTS)}]}]
    return messages, (captions == "facts" and facts(item.spec)) or item.caption


def collate(processor, batch: list[tuple[Item, list, str]]) -> dict:
    """Right-padded model inputs; labels are -100 everywhere but the caption and its <|im_end|>."""
    import torch

    from ..models.backbone import encode_prompt

    rows = []
    for item, messages, caption in batch:
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        enc = encode_prompt(processor, prompt + caption + "<|im_end|>", [item.image])
        n_prompt = encode_prompt(processor, prompt, [item.image])["input_ids"].shape[1]
        rows.append((enc, n_prompt))
    width = max(enc["input_ids"].shape[1] for enc, _ in rows)
    pad = processor.tokenizer.pad_token_id
    out = {"input_ids": [], "attention_mask": [], "labels": [], "mm_token_type_ids": []}
    for enc, n_prompt in rows:
        ids = enc["input_ids"][0]
        extra = width - len(ids)
        labels = ids.clone()
        labels[:n_prompt] = -100
        out["input_ids"].append(torch.cat([ids, ids.new_full((extra,), pad)]))
        out["attention_mask"].append(torch.cat([enc["attention_mask"][0], ids.new_zeros(extra)]))
        out["labels"].append(torch.cat([labels, ids.new_full((extra,), -100)]))
        if "mm_token_type_ids" in enc:
            out["mm_token_type_ids"].append(torch.cat([enc["mm_token_type_ids"][0], ids.new_zeros(extra)]))
    batch_out = {k: torch.stack(v) for k, v in out.items() if v}
    batch_out["pixel_values"] = torch.cat([enc["pixel_values"] for enc, _ in rows])
    batch_out["image_grid_thw"] = torch.cat([enc["image_grid_thw"] for enc, _ in rows])
    return batch_out


def vision_state(model) -> dict:
    """The vision tower and merger weights, keyed as in the full model's state dict."""
    return {k: v for k, v in model.state_dict().items() if k.startswith(VISION_PREFIX)}


def save_vision(model, path: Path, metadata: dict[str, str]) -> None:
    import torch
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    # bf16 halves the file (9 MB); the weights are trained in fp32.
    save_file({k: v.detach().to(torch.bfloat16).contiguous() for k, v in vision_state(model).items()},
              str(path), metadata=metadata)


def load_vision(model, path: Path) -> dict[str, str]:
    """Load saved vision weights into `model` (any dtype); returns the file's metadata.
    Raises ValueError naming the file when its keys do not match the model's vision tower."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    weights = load_file(str(path))
    want = set(vision_state(model))
    if set(weights) != want:
        missing, extra = sorted(want - set(weights)), sorted(set(weights) - want)
        raise ValueError(f"{path}: not smolvl vision weights (missing {missing[:2]}, unexpected {extra[:2]})")
    dtype = next(model.parameters()).dtype
    model.load_state_dict({k: v.to(dtype) for k, v in weights.items()}, strict=False)
    with safe_open(str(path), "pt") as f:
        return f.metadata() or {}
