"""The rollout-engine contract shared by training and evaluation: requests in, n completions per
request out, each with its token ids and the log-probs of those tokens under the distribution they
were sampled from (temperature and top-p applied; greedy = temperature 0 = the plain softmax)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Protocol

from ..errors import UserError


@dataclass
class GenRequest:
    prompt: str  # chat-templated text, image placeholders included
    images: list = field(default_factory=list)  # PIL images, one per image placeholder
    # The prompt as token ids (text prompts): the engine continues exactly these ids and does not
    # tokenize `prompt` (multi-turn rollouts append tool turns as ids, never re-tokenizing text).
    prompt_token_ids: list[int] | None = None


@dataclass(frozen=True)
class SamplingConfig:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int | None = None

    def __post_init__(self):
        for name, ok in [("n", self.n >= 1), ("temperature", self.temperature >= 0),
                         ("top_p", 0 < self.top_p <= 1), ("max_new_tokens", self.max_new_tokens >= 1)]:
            if not ok:
                raise UserError(f"sampling: bad {name}={getattr(self, name)!r}")


@dataclass
class Completion:
    token_ids: list[int]  # generated tokens, the stop token included when finish_reason == "stop"
    logprobs: list[float]  # one per token id
    text: str  # decoded without special tokens
    finish_reason: str  # "stop" | "length"
    prompt_ids: list[int]  # the prompt as the model saw it (image placeholders expanded)


class RolloutEngine(Protocol):
    def generate(self, requests: list[GenRequest], sampling: SamplingConfig) -> list[list[Completion]]: ...

    def sync_weights(self, named_tensors: Iterable[tuple[str, "object"]]) -> None: ...

    def release(self) -> None:
        """Free what the engine can rebuild (colocated vLLM on the CPU: its weights and KV cache) until
        the next sync_weights; the update then runs without them. Generating before that sync is an error."""

    def close(self) -> None: ...


ENGINES = {"vllm": "mmrl.rollout.vllm:VLLMEngine", "hf": "mmrl.rollout.hf:HFEngine"}


def build_engine(kind: str, model_dir: str | Path, **options) -> RolloutEngine:
    """kind "vllm" (colocated, weight sync) or "hf" (transformers generate); options go to the engine."""
    if kind not in ENGINES:
        raise UserError(f"unknown rollout engine {kind!r}; use one of {', '.join(ENGINES)}")
    module, cls = ENGINES[kind].split(":")
    return getattr(importlib.import_module(module), cls)(model_dir, **options)
