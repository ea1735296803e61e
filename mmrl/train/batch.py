"""The update's view of the step: one row per judged response (with its group's prompt), cut into
token-budgeted micro-batches of right-padded tensors (mmrl.models.sequence_batch, the one batching
code of the project) for the trainer's forward passes.

Shapes: B responses; L = longest prompt + response in a micro-batch; T = longest response in the
whole batch (the algorithm's per-token tensors are [B, T], aligned to each response's first token).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..models.batch import sequence_batch
from ..models.shared_prompt import PackedRows, pack_prompts, plan
from .records import Group, Response


@dataclass
class Batch:
    groups: list[Group]               # the groups to train on (judged responses only)
    pad_id: int
    rows: list[tuple[int, Response]] = field(init=False)  # (group position, response), group by group
    T: int = field(init=False)

    def __post_init__(self):
        self.rows = [(g, r) for g, group in enumerate(self.groups) for r in group.responses]
        self.T = max((len(r.tokens) for _, r in self.rows), default=0)

    def __len__(self) -> int:
        return len(self.rows)

    def group_of(self, i: int) -> Group:
        return self.groups[self.rows[i][0]]

    def per_response(self, value) -> torch.Tensor:
        """[B] float tensor of value(group, response) for every row."""
        return torch.tensor([float(value(self.groups[g], r)) for g, r in self.rows])

    def group_ids(self) -> torch.Tensor:  # [B]
        return torch.tensor([g for g, _ in self.rows])

    def _per_token(self, values) -> torch.Tensor:  # list of [t] -> [B, T], zero-padded
        out = torch.zeros(len(self.rows), self.T)
        for i, v in enumerate(values):
            out[i, :len(v)] = torch.as_tensor(v, dtype=torch.float32)
        return out

    def response_mask(self) -> torch.Tensor:
        """[B, T] 1 on tokens the policy generated (tool output and padding are 0)."""
        return self._per_token([r.policy_mask if r.policy_mask is not None else [1] * len(r.tokens)
                                for _, r in self.rows])

    def rollout_logprobs(self) -> torch.Tensor:  # [B, T]
        return self._per_token([r.rollout_logp for _, r in self.rows])

    def micro_batches(self, token_budget: int, rows: list[int] | None = None) -> list[list[int]]:
        """Row indices (of `rows`, default all) per micro-batch: sorted by length, packed while
        rows x longest <= budget (a single longer row still gets its own micro-batch)."""
        rows = list(range(len(self.rows))) if rows is None else rows
        # plan() with every response its own group: one row each, packed by the same rule as shared rows
        alone = [(self.group_of(i).prompt["input_ids"].shape[1], [(i, len(self.rows[i][1].tokens))]) for i in rows]
        return [[row[0] for row in micro] for micro in plan(alone, token_budget)]

    @property
    def shareable(self) -> bool:
        """True when no response shows images of its own (a tool turn's zoom): then each group's
        responses can share one prompt copy (packed), images included."""
        return not any(r.image_inputs for _, r in self.rows)

    def shared_micro_batches(self, token_budget: int, rows: list[int] | None = None) -> list[list[list[int]]]:
        """Like micro_batches, for shared-prompt rows: per micro-batch, its packed rows, each a list
        of responses of one group (their prompt counted once)."""
        rows = list(range(len(self.rows))) if rows is None else rows
        by_group: dict[int, list[tuple[int, int]]] = {}
        for i in rows:
            by_group.setdefault(self.rows[i][0], []).append((i, len(self.rows[i][1].tokens)))
        return plan([(self.groups[g].prompt["input_ids"].shape[1], members) for g, members in by_group.items()],
                    token_budget)

    def packed(self, micro: list[list[int]], masked: bool = False) -> PackedRows:
        """Shared-prompt rows of a micro-batch; its responses are numbered in flattened order. A VLM's
        prompts bring their multimodal tensors, each prompt's once (mmrl.models.shared_prompt);
        masked=True: the masked-image prompts."""
        responses, k = [], 0
        for row in micro:
            responses.append([(k + j, self.rows[i][1].tokens) for j, i in enumerate(row)])
            k += len(row)
        return pack_prompts([self.prompt_of(row[0], masked) for row in micro], responses, self.pad_id)

    def prompt_of(self, i: int, masked: bool = False) -> dict:
        """Response i's encoded prompt; masked=True: its group's masked-image prompt (PAPO), which
        has the same tokens, so the same rows and plans serve both (text-only prompts have none)."""
        g = self.group_of(i)
        return g.masked_prompt if masked and g.masked_prompt is not None else g.prompt

    def inputs(self, idx: list[int], masked: bool = False) -> dict:
        """Right-padded input_ids, attention_mask, completion_mask [b, L] and mm_inputs of rows idx;
        masked=True uses each group's masked-image prompt (text-only prompts stay as they are). A
        response's tool-turn images (zoom) follow its prompt's in every forward, the masked one
        included: they are the images as the rollout showed them (only the prompt's are masked)."""
        responses = [self.rows[i][1] for i in idx]
        return sequence_batch([self.prompt_of(i, masked) for i in idx], [r.tokens for r in responses], self.pad_id,
                              completion_inputs=[r.image_inputs for r in responses])

    def to_response(self, idx: list[int], per_token: torch.Tensor) -> torch.Tensor:
        """[b, L] values at sequence positions -> [b, T] aligned to each response's first token."""
        starts = torch.tensor([self.group_of(i).prompt["input_ids"].shape[1] for i in idx])
        pos = (starts[:, None] + torch.arange(self.T)[None, :]).clamp(max=per_token.shape[1] - 1)
        lengths = torch.tensor([len(self.rows[i][1].tokens) for i in idx])
        valid = torch.arange(self.T)[None, :] < lengths[:, None]
        return per_token.gather(1, pos.to(per_token.device)) * valid.to(per_token.device)
