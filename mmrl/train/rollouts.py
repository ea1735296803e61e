"""The step's engine interface: samples in, scored groups out (`groups`), and plain chat replies
(`chat`, for curricula that ask the policy to rewrite prompts). Stages of the step receive this
object, never the trainer. Bad images and over-long prompts follow the recipe's policy and are
counted; unjudged responses keep reward None and are counted (never scored 0)."""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import UserError
from .records import Group, Response
from .rewards import score_responses
from .timer import Timer


@dataclass
class Rollouts:
    engine: object                    # a RolloutEngine (mmrl/rollout/base.py)
    pool: object                      # the VerifierPool
    processor: object
    recipe: object
    samples: list[dict]               # the training data (a group's key indexes it)
    image_root: object                # folder relative image paths resolve against
    source: str                       # the data file's name, for messages
    sampling: object                  # the step's SamplingConfig
    timer: Timer
    mask_image: Optional[Callable] = None  # (image, rng) -> masked image, when the algorithm declares it
    seed: int = 0                     # the step's seed for masks
    counts: Counter = field(default_factory=Counter)   # data/* counters of the step
    verdict_metrics: list[dict] = field(default_factory=list)  # one per generation call

    def groups(self, keys: list[int], samples: list[dict] | None = None) -> list[Group]:
        """Encode, generate n responses per prompt and score them. `samples[k]` (default the training
        data at keys[k]) stands for the sample with key keys[k] (a rewrite keeps its original's key)."""
        rows = samples if samples is not None else [self.samples[k] for k in keys]
        encoded = [e for k, s in zip(keys, rows) if (e := self._encode(k, s)) is not None]
        if not encoded:
            return []
        groups, requests = [g for g, _ in encoded], [request for _, request in encoded]
        with self.timer("rollout"):
            if self.recipe.tools is None:
                for g, outs in zip(groups, self.engine.generate(requests, self.sampling)):
                    g.responses = [Response(list(c.token_ids), list(c.logprobs), c.text, c.finish_reason)
                                   for c in outs if c.token_ids]  # nothing generated: nothing to train on
            else:
                self._generate_with_tools(groups, requests)
        with self.timer("reward"):
            self._score(groups)
        return groups

    def chat(self, messages: list[str], temperature: float, max_new_tokens: int) -> list[str]:
        """One reply per user message, from the current policy (no images, no scoring)."""
        from ..data import chat_text
        from ..rollout import GenRequest, SamplingConfig
        params = SamplingConfig(n=1, temperature=temperature, max_new_tokens=max_new_tokens, seed=self.sampling.seed)
        with self.timer("rewrite"):
            outs = self.engine.generate([GenRequest(chat_text(self.processor, m)) for m in messages], params)
        return [o[0].text for o in outs]

    def _generate_with_tools(self, groups: list[Group], requests: list) -> None:
        """Multi-turn rollouts (mmrl/rollout/multiturn.py): tool output is context, never loss
        (policy_mask 0); the verifier judges the last policy turn."""
        from ..models.backbone import image_inputs
        from ..rollout.multiturn import generate_with_tools
        pixels = (self.recipe.backbone.min_pixels, self.recipe.backbone.max_pixels)
        outputs = generate_with_tools(self.engine, self.processor, requests, self.sampling, self.recipe.tools,
                                      min_pixels=pixels[0], max_pixels=pixels[1])
        for g, outs in zip(groups, outputs):
            g.responses = [Response(o.token_ids, o.logprobs, o.final_text, o.judged_finish_reason,
                                    policy_mask=o.policy_mask, tool_calls=len(o.calls),
                                    tool_errors=o.tool_errors, tool_seconds=o.tool_time_s, turns=o.turns,
                                    images=o.images, image_inputs=image_inputs(
                                        self.processor, o.token_ids, o.images, *pixels) if o.images else None)
                           for o in outs if o.token_ids]

    # ------------------------------------------------------------------

    def _encode(self, key: int, sample: dict):
        """-> (the group without responses, its generation request), or None if the sample is skipped."""
        from ..data import chat_prompt, images_or_skip
        from ..models import encode_prompt
        from ..rollout import GenRequest
        r, d = self.recipe, self.recipe.data
        images = images_or_skip(sample, d, self.image_root, f"#{key} of {self.source}")
        if images is None:
            self.counts["skipped_bad_image"] += 1
            return None
        if images and not hasattr(self.processor, "image_processor"):
            raise UserError(f"sample #{key} of {self.source} has images but the model is text-only")
        group = Group(key, sample, {}, images)
        pixels = (r.backbone.min_pixels, r.backbone.max_pixels)
        text = chat_prompt(self.processor, sample, d, len(images))
        group.prompt = encode_prompt(self.processor, text, images, *pixels)
        if group.prompt["input_ids"].shape[1] > d.max_prompt_tokens:
            self.counts["skipped_long_prompt"] += 1
            return None
        if self.mask_image is not None and images:  # text-only prompts have nothing to mask
            rng = random.Random(hash((self.seed, key)))
            group.masked_prompt = encode_prompt(self.processor, text, [self.mask_image(im, rng) for im in images],
                                                *pixels)
        return group, GenRequest(text, images)

    def _score(self, groups: list[Group]) -> None:
        samples = [g.sample for g in groups for _ in g.responses]
        responses = [r for g in groups for r in g.responses]
        verdicts, metrics = score_responses(self.pool, samples, responses, self.recipe.data, self.recipe.verifiers)
        for response, (reward, parts, accuracy, status) in zip(responses, verdicts):
            response.reward, response.reward_parts, response.accuracy, response.status = reward, parts, accuracy, status
        self.verdict_metrics.append(metrics)
