"""The step's records: a `Group` per prompt holding its `Response`s. Every stage of the step
(generate, score, filters and curricula, update, log) takes groups and returns groups; nothing is
attached to them on the fly, every field is declared here.

Shapes: L = the prompt's length in tokens (image placeholders expanded), t = a response's length.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Response:
    """One sampled answer to its group's prompt."""
    tokens: list[int]                 # [t] token ids after the prompt (the stop token included)
    rollout_logp: list[float]         # [t] the rollout engine's log-probs of `tokens` (0 on tool tokens)
    text: str                         # what the verifier judges (special tokens removed)
    finish_reason: str                # "stop" | "length"
    policy_mask: Optional[list[int]] = None  # [t] 1 = the policy generated it (None: all); tool output = 0
    status: str = ""                  # the verdict's status ("ok", "gold_error", "timeout", ...)
    reward: Optional[float] = None    # None: could not be judged -> left out of the update, counted
    reward_parts: dict[str, float] = field(default_factory=dict)  # the reward's weighted components
    accuracy: Optional[float] = None  # the verifier's accuracy part (curricula and filters read it)
    advantage: float = 0.0            # the sequence advantage the update used (curricula learn from it)
    kl_weight: float = 1.0            # multiplier of its KL term (a curriculum may lower it on hard prompts)
    tool_calls: int = 0               # tool calls made while generating it (recipe `tools:`)
    tool_errors: int = 0
    tool_seconds: float = 0.0
    turns: int = 1                    # policy turns (1 without tools)
    # Images its tool turns show (zoom), prepared, in order, as the rollout engine saw them after the
    # prompt's; image_inputs: their tensors for the trainer's forward (models.backbone.image_inputs), so
    # every image pad in `tokens` has its image. [] / None: the response shows no image.
    images: list = field(default_factory=list)
    image_inputs: Optional[dict] = None

    @property
    def judged(self) -> bool:
        return self.reward is not None


@dataclass
class Group:
    """One prompt and its responses: the unit of group-relative advantages."""
    key: int                          # the sample's index in the training data (stable across steps)
    sample: dict                      # the data row (prompt, gold, verifier, metadata)
    prompt: dict                      # encode_prompt output: input_ids [1, L] (+ the family's image tensors)
    images: list = field(default_factory=list)  # PIL images as the engine saw them
    masked_prompt: Optional[dict] = None  # the prompt with masked images, when the algorithm declares it
    responses: list[Response] = field(default_factory=list)
    rewritten: bool = False           # a curriculum rewrote `sample` (judged with the original gold)

    @property
    def judged(self) -> list[Response]:
        return [r for r in self.responses if r.judged]

    @property
    def accuracies(self) -> list[float]:
        return [r.accuracy for r in self.judged]

    @property
    def accuracy(self) -> float:
        acc = self.accuracies
        return sum(acc) / len(acc) if acc else 0.0

    @property
    def has_image(self) -> bool:
        return bool(self.images)

