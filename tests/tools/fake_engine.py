"""A scripted rollout engine for the driver's unit tests: the real SmolLM2 tokenizer, no model.

script(context, sample) -> the text of the next turn (context: everything the engine was asked to
continue, decoded; sample: the sample index in the first round, else 0). The text is tokenized and,
unless it is cut by max_new_tokens, ends with <|im_end|> (a turn that finished). Log-probs are a
fixed function of (position, token id), so a test can check which tokens kept which log-probs."""
from __future__ import annotations

import threading
import time

from mmrl.rollout.base import Completion


def fake_logprob(position: int, token: int) -> float:
    return -((position * 31 + token) % 97 + 1) / 100.0


class FakeEngine:
    def __init__(self, tokenizer, script):
        self.tokenizer, self.script = tokenizer, script
        self.eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.calls = []  # (time, [prompt_token_ids]) per generate call
        self.lock = threading.Lock()

    def generate(self, requests, sampling):
        # a plain request (no tools): the engine tokenizes the prompt itself
        requests = [r if r.prompt_token_ids is not None else
                    type(r)(r.prompt, r.images, self.tokenizer.encode(r.prompt, add_special_tokens=False)) for r in requests]
        with self.lock:
            self.calls.append((time.monotonic(), [list(r.prompt_token_ids) for r in requests]))
        out = []
        for r in requests:
            context = self.tokenizer.decode(r.prompt_token_ids)
            group = []
            for s in range(sampling.n):
                ids = self.tokenizer.encode(self.script(context, s), add_special_tokens=False) + [self.eos]
                cut = len(ids) > sampling.max_new_tokens
                ids = ids[:sampling.max_new_tokens]
                lps = [fake_logprob(len(r.prompt_token_ids) + i, t) for i, t in enumerate(ids)]
                group.append(Completion(ids, lps, self.tokenizer.decode(ids, skip_special_tokens=True),
                                        "length" if cut else "stop", list(r.prompt_token_ids)))
            out.append(group)
        return out
