"""The rollout-vs-trainer log-prob gap, logged every step: a stale or mismatched rollout engine makes
"on-policy" training silently off-policy (anchors: verl#2996 and others)."""
from __future__ import annotations

import torch


def logprob_gap(rollout_logprobs: torch.Tensor, trainer_logprobs: torch.Tensor, mask: torch.Tensor) -> dict:
    """Both [B, T] on the same tokens; mask [B, T] marks completion tokens. Returns mean/max |diff|
    (nats) and the k3 estimate of KL(rollout || trainer) over the masked tokens."""
    mask = mask.bool()
    diff = (trainer_logprobs.detach().float() - rollout_logprobs.float())[mask]
    if diff.numel() == 0:
        return {"logprob_gap_mean": 0.0, "logprob_gap_max": 0.0, "rollout_kl_k3": 0.0}
    return {"logprob_gap_mean": diff.abs().mean().item(), "logprob_gap_max": diff.abs().max().item(),
            "rollout_kl_k3": (diff.exp() - 1 - diff).mean().item()}


def rollout_gap(model, processor, requests, outputs, temperature, min_pixels=None, max_pixels=None,
                with_mm_types=True) -> dict:
    """Recompute an engine's completions with the trainer's code (encode_prompt -> sequence_batch ->
    token_logprobs) and compare with the engine's log-probs. with_mm_types=False drops the family's
    per-token tensors (Qwen-VL: mm_token_type_ids), only to show what that pitfall costs."""
    from ..models import encode_prompt, sequence_batch, token_logprobs
    from ..models.backbone import tokenizer_of
    from ..models.families import family_of

    family = family_of(processor)

    prompts, completions, rollout = [], [], []
    for request, group in zip(requests, outputs):
        enc = encode_prompt(processor, request.prompt, request.images, min_pixels, max_pixels)
        for c in group:
            if c.prompt_ids != enc["input_ids"][0].tolist():
                raise RuntimeError("the engine and the trainer tokenized the prompt differently")
            prompts.append(enc), completions.append(c.token_ids), rollout.append(c.logprobs)
    b = sequence_batch(prompts, completions, pad_id=tokenizer_of(processor).pad_token_id or 0, family=family)
    mm = b["mm_inputs"]
    if mm is not None and not with_mm_types:
        mm = {k: v for k, v in mm.items() if k not in family.per_token}
    with torch.no_grad():
        trainer = token_logprobs(model, b["input_ids"], b["attention_mask"], b["completion_mask"], mm_inputs=mm,
                                 temperature=temperature)
    engine = torch.zeros_like(trainer)
    for row, lps in enumerate(rollout):
        start = prompts[row]["input_ids"].shape[1]
        engine[row, start:start + len(lps)] = torch.tensor(lps)
    return logprob_gap(engine, trainer, b["completion_mask"])
