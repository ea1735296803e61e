"""The step's batch: one row per response, carrying its prompt inputs, tokens, sampling
log-probs, reward and sample metadata, and cutting itself into token-budgeted micro-batches of
right-padded tensors for the trainer's forward passes.

Shapes: B responses; L = longest prompt + completion in a micro-batch; T = longest completion in
the whole batch (the algorithm's per-token tensors are [B, T], aligned to each response's first
generated token)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Row:
    group: int                     # prompt index within the step (the GRPO group id)
    prompt_key: int                # the sample's index in the data set (stable across steps)
    prompt: dict                   # encode_prompt output for the prompt (batch size 1)
    tokens: list[int]              # generated tokens
    rollout_logprobs: list[float]  # the rollout engine's log-probs of `tokens`
    finish_reason: str
    masked_prompt: dict | None = None  # PAPO: the prompt with its images masked
    reward: float | None = None


@dataclass
class Batch:
    rows: list[Row]
    pad_id: int
    T: int = field(init=False)

    def __post_init__(self):
        self.T = max(len(r.tokens) for r in self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def response_mask(self) -> torch.Tensor:  # [B, T]
        mask = torch.zeros(len(self.rows), self.T)
        for i, r in enumerate(self.rows):
            mask[i, :len(r.tokens)] = 1
        return mask

    def rollout_logprobs(self) -> torch.Tensor:  # [B, T]
        out = torch.zeros(len(self.rows), self.T)
        for i, r in enumerate(self.rows):
            out[i, :len(r.tokens)] = torch.tensor(r.rollout_logprobs, dtype=torch.float32)
        return out

    def micro_batches(self, token_budget: int) -> list[list[int]]:
        """Row indices per micro-batch: rows sorted by length, packed while rows x longest <= budget
        (a single longer row still gets its own micro-batch)."""
        lengths = [r.prompt["input_ids"].shape[1] + len(r.tokens) for r in self.rows]
        order = sorted(range(len(self.rows)), key=lambda i: lengths[i])
        out, cur = [], []
        for i in order:
            if cur and (len(cur) + 1) * lengths[i] > token_budget:
                out.append(cur)
                cur = []
            cur.append(i)
        return out + [cur] if cur else out

    def inputs(self, idx: list[int], masked: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Right-padded (input_ids, attention_mask, completion_mask) [b, L] and mm_inputs of rows idx."""
        prompts = [(self.rows[i].masked_prompt if masked else self.rows[i].prompt) for i in idx]
        seqs = [p["input_ids"][0].tolist() + self.rows[i].tokens for p, i in zip(prompts, idx)]
        L = max(map(len, seqs))
        input_ids = torch.full((len(idx), L), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(idx), L), dtype=torch.long)
        completion = torch.zeros((len(idx), L), dtype=torch.long)
        for j, (seq, p) in enumerate(zip(seqs, prompts)):
            n_prompt = p["input_ids"].shape[1]
            input_ids[j, :len(seq)] = torch.tensor(seq)
            attention[j, :len(seq)] = 1
            completion[j, n_prompt:len(seq)] = 1
        mm = {}
        if "pixel_values" in prompts[0] or "mm_token_type_ids" in prompts[0]:
            with_images = [p for p in prompts if "pixel_values" in p]
            if with_images:
                mm["pixel_values"] = torch.cat([p["pixel_values"] for p in with_images])
                mm["image_grid_thw"] = torch.cat([p["image_grid_thw"] for p in with_images])
            types = torch.zeros((len(idx), L), dtype=torch.long)
            for j, p in enumerate(prompts):
                if "mm_token_type_ids" in p:
                    types[j, :p["mm_token_type_ids"].shape[1]] = p["mm_token_type_ids"][0]
            mm["mm_token_type_ids"] = types
        return input_ids, attention, completion, mm

    def to_response(self, idx: list[int], per_token: torch.Tensor) -> torch.Tensor:
        """[b, L] values at sequence positions -> [b, T] aligned to each response's first token."""
        starts = torch.tensor([self.rows[i].prompt["input_ids"].shape[1] for i in idx])
        pos = (starts[:, None] + torch.arange(self.T)[None, :]).clamp(max=per_token.shape[1] - 1)
        lengths = torch.tensor([len(self.rows[i].tokens) for i in idx])
        valid = torch.arange(self.T)[None, :] < lengths[:, None]
        return per_token.gather(1, pos.to(per_token.device)) * valid.to(per_token.device)
