"""CLPO: curriculum-guided learning for policy optimization (arXiv 2509.25004; algorithms.md §11).

Online difficulty from each prompt's rollout accuracy; the policy itself rewrites hard prompts into
simpler ones and medium prompts into paraphrases (same gold answer, same verifier); rewritten groups
are rolled out and kept only when their accuracy is mixed; the batch mixes informative original
groups with kept rewrites; the KL term is scaled down on hard samples.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

HARD, MEDIUM, EASY = "hard", "medium", "easy"


@dataclass(frozen=True)
class CLPOConfig:
    hard_max: float = 0.3       # acc <= 0.3 -> hard (acc = 0 included)
    medium_max: float = 0.7     # 0.3 < acc <= 0.7 -> medium, else easy
    rewrite: str = "both"       # both | hard_only | medium_only
    rewrite_temperature: float = 0.7
    rewrite_max_tokens: int = 400
    min_chars: int = 10         # rewrites outside [min_chars, max_chars] are discarded
    max_chars: int = 2000
    kl_scale_hard: float = 0.5  # per-sample KL multiplier: hard samples 0.5, others 1.0

    def __post_init__(self):
        if not 0 <= self.hard_max < self.medium_max <= 1:
            raise ValueError("clpo: need 0 <= hard_max < medium_max <= 1")
        if self.rewrite not in ("both", "hard_only", "medium_only"):
            raise ValueError(f"clpo.rewrite: {self.rewrite!r}; allowed: both, hard_only, medium_only")


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
