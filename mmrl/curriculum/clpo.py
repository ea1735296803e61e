"""CLPO: curriculum-guided learning for policy optimization (arXiv 2509.25004; algorithms.md §11).

Online difficulty from each prompt's rollout accuracy; the policy itself rewrites hard prompts into
simpler ones and medium prompts into paraphrases (same gold answer, same verifier); rewritten groups
are rolled out and kept only when their accuracy is mixed; the batch mixes informative original
groups with kept rewrites; the KL term is scaled down on hard samples.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

HARD, MEDIUM, EASY = "hard", "medium", "easy"


class CLPOConfig(BaseModel):
    """The recipe's `curriculum.clpo` section and the stage's settings (one class for both)."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    hard_max: float = Field(0.3, ge=0, le=1)    # group accuracy <= hard_max: hard (rewritten to simplify)
    medium_max: float = Field(0.7, ge=0, le=1)  # <= medium_max: medium (rewritten to diversify), else easy
    rewrite: Literal["both", "hard_only", "medium_only"] = "both"
    rewrite_temperature: float = Field(0.7, gt=0)
    rewrite_max_tokens: int = Field(400, ge=1)
    min_chars: int = Field(10, ge=0)             # rewrites outside [min_chars, max_chars] are discarded
    max_chars: int = Field(2000, ge=1)
    kl_scale_hard: float = Field(0.5, ge=0)      # per-sample KL multiplier: hard samples 0.5, others 1.0

    @model_validator(mode="after")
    def _ordered(self) -> "CLPOConfig":
        if not self.hard_max < self.medium_max:
            raise ValueError("clpo: need 0 <= hard_max < medium_max <= 1")
        return self

def bucket(acc: float, cfg: CLPOConfig = CLPOConfig()) -> str:
    if acc <= cfg.hard_max:
        return HARD
    return MEDIUM if acc <= cfg.medium_max else EASY


def informative(acc: float) -> bool:
    """Only groups with mixed outcomes carry a GRPO gradient (original and rewritten alike)."""
    return 0.0 < acc < 1.0


def wants_rewrite(kind: str, cfg: CLPOConfig = CLPOConfig()) -> bool:
    return (kind == HARD and cfg.rewrite in ("both", "hard_only")) or \
           (kind == MEDIUM and cfg.rewrite in ("both", "medium_only"))


def kl_scale(kind: str, cfg: CLPOConfig = CLPOConfig()) -> float:
    return cfg.kl_scale_hard if kind == HARD else 1.0


_COMMON = (
    "Rewrite the question below {goal}. The rewritten question must keep exactly the same task, "
    "quantities, constraints and solution method, and must have the same correct answer ({answer}). "
    "Do not solve it, and do not state, hint at or reveal the answer. Do not add context or remove "
    "constraints. Keep it under 400 tokens. Reply with the rewritten question only, inside one "
    "```text code block, and nothing outside the block.\n\nQuestion:\n{question}\n")
SIMPLIFY = _COMMON.replace("{goal}", "so that it is simpler, clearer and more direct: shorter sentences, "
                           "no redundancy, implicit conditions made explicit")
DIVERSIFY = _COMMON.replace("{goal}", "into a differently worded but equivalent version: vary the "
                            "phrasing, sentence structure and word order")


def rewrite_instruction(question: str, answer: str | None, kind: str) -> str:
    template = SIMPLIFY if kind == HARD else DIVERSIFY
    return template.format(question=question, answer=answer if answer not in (None, "") else "[UNKNOWN]")


_BLOCK = re.compile(r"```(?:text)?[ \t]*\n?(.*?)```", re.S)


def extract_rewrite(text: str, cfg: CLPOConfig = CLPOConfig()) -> str | None:
    """The question inside the first code block (else the whole reply), or None when its length
    is outside [min_chars, max_chars]."""
    m = _BLOCK.search(text)
    question = (m.group(1) if m else text).strip()
    return question if cfg.min_chars < len(question) < cfg.max_chars else None
