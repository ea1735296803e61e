"""Shared by the rollout integration tests: real prompts from shared/data and the trainer-side
log-prob check of a rollout (encode_prompt -> sequence_batch -> token_logprobs -> logprob_gap)."""
import json
import os
from pathlib import Path

import torch
from PIL import Image

from mmrl.models import encode_prompt, sequence_batch, token_logprobs
from mmrl.models.backbone import tokenizer_of
from mmrl.rollout import GenRequest
from mmrl.rollout.gap import rollout_gap

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

# fp32 on both sides: the measured noise floor between vLLM's and torch's kernels is a mean of
# ~5e-6 nats (max ~4e-5) and stale weights give >= 1 nat, so these bounds sit ~20x above the noise
# and ~10^4 below a missed sync (docs/engines.md).
GAP_MEAN_TOL, GAP_MAX_TOL = 1e-4, 1e-3


def gsm8k_requests(processor, k, start=1, one_shot=True):
    """GSM8K prompts; one_shot (example 0 as the shot) gives them a shared prefix of more than one
    128-token KV block, so vLLM's prefix cache is in play as in GRPO."""
    rows = [json.loads(line) for line in (DATA / "gsm8k" / "test.jsonl").read_text().splitlines()[:start + k]]
    shot = [{"role": "user", "content": rows[0]["question"]}, {"role": "assistant", "content": rows[0]["answer"]}]
    shot = shot if one_shot else []
    return [GenRequest(tokenizer_of(processor).apply_chat_template(
        shot + [{"role": "user", "content": row["question"]}], tokenize=False, add_generation_prompt=True))
        for row in rows[start:]]


def geometry_requests(processor, ids=(11, 12)):
    out = []
    for i in ids:
        folder = DATA / "geometry3k" / "data_examples" / str(i)
        problem = json.loads((folder / "data.json").read_text())
        text = processor.apply_chat_template([{"role": "user", "content": [
            {"type": "image"}, {"type": "text", "text": problem["problem_text"] + " Choices: " +
                                ", ".join(problem["choices"])}]}], tokenize=False, add_generation_prompt=True)
        out.append(GenRequest(text, [Image.open(folder / "img_diagram.png").convert("RGB")]))
    return out


def trainer_gap(model, processor, requests, outputs, temperature, with_mm_types=True):
    return rollout_gap(model, processor, requests, outputs, temperature, with_mm_types=with_mm_types)


def in_sync(gap):
    return gap["logprob_gap_mean"] < GAP_MEAN_TOL and gap["logprob_gap_max"] < GAP_MAX_TOL


def one_update(model, processor, requests, outputs):
    """One AdamW step (lr 1e-3) raising the sampled completions' log-probs: touches every weight
    that the forward uses, the tied embedding and (with images) the vision tower included."""
    prompts, completions = [], []
    for request, group in zip(requests, outputs):
        enc = encode_prompt(processor, request.prompt, request.images)
        prompts += [enc] * len(group)
        completions += [c.token_ids for c in group]
    b = sequence_batch(prompts, completions, pad_id=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss = -token_logprobs(model, b["input_ids"], b["attention_mask"], b["completion_mask"],
                           mm_inputs=b["mm_inputs"]).sum()
    loss.backward()
    opt.step()
    opt.zero_grad()
