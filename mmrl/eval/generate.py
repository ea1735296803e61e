"""Responses from a model: the benchmark's prompts, chat-templated, through a shared rollout engine
(mmrl.rollout: vLLM or transformers generate), n completions per problem."""
from __future__ import annotations

from typing import Any

from ..errors import UserError
from .benchmark import Benchmark, Sample
from .runner import Respond

PROMPT_TOKENS = 2048  # room for the longest benchmark prompt (+ image tokens) beside the response


def open_engine(model: str, kind: str, max_new_tokens: int, **options) -> tuple[Any, dict[str, Any]]:
    """Start a rollout engine for `model` (a folder or a built-in name) -> (engine, run info)."""
    from ..models import resolve_model
    from ..rollout import build_engine

    path = resolve_model(model)
    if kind == "vllm":
        options.setdefault("max_model_len", PROMPT_TOKENS + max_new_tokens)
    engine = build_engine(kind, path, **options)
    return engine, {"model": str(path), "engine": kind}


def engine_responder(bench: Benchmark, engine) -> Respond:
    from PIL import Image

    from ..data.chat import chat_text
    from ..rollout import GenRequest, SamplingConfig

    s = bench.sampling
    sampling = SamplingConfig(s.n, s.temperature, s.top_p, s.max_new_tokens, s.seed)
    processor = engine.processor
    text_only = not hasattr(processor, "image_processor")

    def request(sample: Sample) -> GenRequest:
        if sample.images and text_only:
            raise UserError(f"{bench.name}: sample {sample.id} has images but the model is text-only; "
                            f"use a vision-language model (e.g. --model smolvl)")
        images = [Image.open(p).convert("RGB") for p in sample.images]
        text = chat_text(processor, bench.prompt_text(sample), len(images), bench.system)
        return GenRequest(text + bench.response_prefix, images)

    def respond(samples: list[Sample]) -> list[list[dict[str, Any]]]:
        requests = [request(x) for x in samples]
        if bench.tools is None:
            return [[{"text": bench.response_prefix + c.text, "finish_reason": c.finish_reason,
                      "tokens": len(c.token_ids)} for c in group] for group in engine.generate(requests, sampling)]
        from ..rollout.multiturn import generate_with_tools

        # deterministic: the same seed gives the same responses whatever the tools' timing
        rollouts = generate_with_tools(engine, processor, requests, sampling, bench.tools, deterministic=True)
        # the verifier judges the last policy turn; the whole exchange is kept for reading
        return [[{"text": r.final_text, "transcript": r.text, "finish_reason": r.judged_finish_reason,
                  "ended": r.finish_reason,
                  "tokens": len(r.token_ids), "tool_calls": len(r.calls), "tool_errors": r.tool_errors,
                  "tool_seconds": round(r.tool_time_s, 3), "turns": r.turns} for r in group] for group in rollouts]

    return respond
