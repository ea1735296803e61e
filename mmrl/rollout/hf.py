"""Rollouts with transformers `generate`: the fallback engine (no vLLM needed), batched with left
padding. Sampling log-probs are read from the final processed scores (after the vision-token ban,
temperature and top-p), the same semantics as vLLM's processed_logprobs, one step at a time rather
than through output_scores, which would keep [sequences, vocab] floats for every generated token."""
from __future__ import annotations

import torch
from transformers import (GenerationConfig, LogitsProcessor, LogitsProcessorList, TemperatureLogitsWarper,
                          TopPLogitsWarper)

from ..errors import UserError
from ..models.backbone import encode_prompt, image_inputs, load_policy, tokenizer_of
from ..models.families import Family, family_of
from .base import Completion, GenRequest, SamplingConfig
from .guards import banned_tokens, check_images, check_prompt_length


class HFEngine:
    def __init__(self, model_dir, dtype="auto", max_prompt_len=None, min_pixels=None, max_pixels=None,
                 batch_size=64, model=None, processor=None):
        """model/processor: share an already loaded model (e.g. the trainer's) instead of loading one."""
        if model is None:
            model, processor = load_policy(model_dir, dtype)
        self.model, self.processor, self.tokenizer = model, processor, tokenizer_of(processor)
        self.family = family_of(processor)  # None for a text model
        self.max_prompt_len, self.pixels, self.batch_size = max_prompt_len, (min_pixels, max_pixels), batch_size
        self.banned = sorted(banned_tokens(self.tokenizer, self.family).values())
        gc = model.generation_config
        eos = gc.eos_token_id if gc.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos = set(eos if isinstance(eos, list) else [eos])
        self.pad = gc.pad_token_id if gc.pad_token_id is not None else min(self.eos)
        # Only our sampling settings apply: no top_k / repetition penalty defaults from the model folder.
        self.base_config = dict(bos_token_id=gc.bos_token_id, eos_token_id=sorted(self.eos), pad_token_id=self.pad)

    def generate(self, requests: list[GenRequest], sampling: SamplingConfig) -> list[list[Completion]]:
        encoded = [self._encode(i, r) for i, r in enumerate(requests)]
        per_batch = max(1, self.batch_size // sampling.n)
        out = []
        with torch.random.fork_rng():  # keep the trainer's RNG stream untouched
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            for start in range(0, len(encoded), per_batch):
                out += self._generate_batch(encoded[start:start + per_batch], sampling)
        return out

    def sync_weights(self, named_tensors) -> None:
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, tensor in named_tensors:
                if name not in params:
                    raise UserError(f"weight sync: the rollout model has no parameter {name!r}")
                if params[name] is not tensor:  # a shared model needs no copy
                    params[name].copy_(tensor)

    def release(self) -> None:
        """Nothing to free: the engine holds the trainer's own weights, or a copy it keeps synced."""

    def close(self) -> None:
        self.model = None

    def _encode(self, index: int, request: GenRequest) -> dict:
        if request.prompt_token_ids is not None:
            ids = torch.tensor([request.prompt_token_ids])
            check_prompt_length(index, request.prompt, ids.shape[1], self.max_prompt_len)
            enc = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
            if request.images:  # placeholders already expanded (multi-turn: a tool showed an image); the
                # images' tensors as the trainer builds them (image_inputs checks their token count)
                enc.update(image_inputs(self.processor, request.prompt_token_ids, request.images, *self.pixels))
            return enc
        check_images(index, request.prompt, len(request.images), self.family)
        enc = encode_prompt(self.processor, request.prompt, request.images, *self.pixels)
        check_prompt_length(index, request.prompt, enc["input_ids"].shape[1], self.max_prompt_len)
        return enc

    def _generate_batch(self, encoded: list[dict], sampling: SamplingConfig) -> list[list[Completion]]:
        batch = _collate(encoded, self.pad, self.family)
        sample = sampling.temperature > 0
        # Temperature and top-p are our own processors (so the recorder runs after them); the config
        # keeps them neutral so generate adds none of its own.
        config = GenerationConfig(**self.base_config, max_new_tokens=sampling.max_new_tokens,
                                  num_return_sequences=sampling.n, do_sample=sample, temperature=1.0, top_p=1.0,
                                  top_k=0 if sample else None, suppress_tokens=self.banned or None)
        recorder = _SampledLogprobs()
        warpers = [TemperatureLogitsWarper(sampling.temperature)] if sample and sampling.temperature != 1 else []
        warpers += [TopPLogitsWarper(sampling.top_p)] if sample and sampling.top_p < 1 else []
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            sequences = self.model.generate(**batch, generation_config=config,
                                            logits_processor=LogitsProcessorList(warpers + [recorder]))
        self.model.train(was_training)
        new = sequences[:, batch["input_ids"].shape[1]:]
        logprobs = recorder.finish(new[:, -1])
        results = []
        for row in range(new.shape[0]):
            ids = new[row].tolist()
            stop = next((i for i, t in enumerate(ids) if t in self.eos), None)
            keep = len(ids) if stop is None else stop + 1
            prompt = encoded[row // sampling.n]["input_ids"][0].tolist()
            results.append(Completion(ids[:keep], logprobs[row, :keep].tolist(),
                                      self.tokenizer.decode(ids[:keep], skip_special_tokens=True),
                                      "length" if stop is None else "stop", prompt))
        return [results[i:i + sampling.n] for i in range(0, len(results), sampling.n)]


class _SampledLogprobs(LogitsProcessor):
    """Last processor of each step: keeps that step's final log-probs until the next call, whose
    input_ids end with the token sampled from them."""

    def __init__(self):
        self.pending, self.steps = None, []

    def __call__(self, input_ids, scores):
        if self.pending is not None:
            self.steps.append(self.pending.gather(-1, input_ids[:, -1:])[:, 0])
        self.pending = torch.log_softmax(scores.float(), -1)
        return scores

    def finish(self, last_tokens):
        self.steps.append(self.pending.gather(-1, last_tokens[:, None])[:, 0])
        return torch.stack(self.steps, 1)


def _collate(encoded: list[dict], pad_id: int, family: Family | None) -> dict:
    """Left-padded per-token tensors (input_ids with pad_id, the rest with 0), per-image tensors
    concatenated; the family names which is which."""
    width = max(e["input_ids"].shape[1] for e in encoded)
    batch = {}
    for key in ("input_ids", "attention_mask") + (family.per_token if family else ()):
        if any(key in e for e in encoded):  # a prompt given as token ids has no mm types: zeros (text)
            fill = pad_id if key == "input_ids" else 0
            rows = [e[key][0] if key in e else torch.zeros_like(e["input_ids"][0]) for e in encoded]
            batch[key] = torch.stack([torch.nn.functional.pad(r, (width - r.shape[0], 0), value=fill) for r in rows])
    for key in family.per_image if family else ():
        present = [e[key] for e in encoded if key in e]
        if present:
            batch[key] = torch.cat(present)
    return batch
