"""Vision-language families: one adapter per family, looked up from config.model_type (or, for a
processor built in code, its class). A text-only model has no family (None).

Adding a family: one file here with its `FAMILY` (subclass `Family` where the Qwen-VL conventions
don't hold) and one entry in FAMILIES below."""
from __future__ import annotations

from ...errors import UserError
from .base import Family, QwenVL
from .qwen2_vl import FAMILY as QWEN2_VL
from .qwen3_vl import FAMILY as QWEN3_VL

FAMILIES: tuple[Family, ...] = (QWEN2_VL, QWEN3_VL)

_BY_MODEL_TYPE = {t: f for f in FAMILIES for t in f.model_types}
_BY_PROCESSOR = {c: f for f in FAMILIES for c in f.processor_classes}


def _tensor_kinds() -> dict[str, str]:
    kinds: dict[str, str] = {}
    for f in FAMILIES:
        for names, kind in ((f.per_token, "token"), (f.per_image, "image")):
            for name in names:
                if kinds.setdefault(name, kind) != kind:
                    raise AssertionError(f"families disagree whether {name} is per-token or per-image")
    return kinds


TENSOR_KINDS = _tensor_kinds()  # every family's multimodal input name -> "token" | "image"


def family_of_config(config) -> Family | None:
    """The adapter for a model config; None for a text model; a VLM no adapter serves is refused."""
    family = _BY_MODEL_TYPE.get(getattr(config, "model_type", None))
    if family is None and getattr(config, "vision_config", None) is not None:
        raise UserError(f"vision-language model type {config.model_type!r} has no family adapter in "
                        f"mmrl/models/families (known: {', '.join(sorted(_BY_MODEL_TYPE))})")
    return family


def family_of(processor) -> Family | None:
    """The adapter for a loaded processor (by its class); None for a text model's tokenizer."""
    if not hasattr(processor, "image_processor"):
        return None
    family = _BY_PROCESSOR.get(type(processor).__name__)
    if family is None:
        raise UserError(f"processor {type(processor).__name__} has no family adapter in mmrl/models/families "
                        f"(known: {', '.join(sorted(_BY_PROCESSOR))})")
    return family


def vision_tokens(family: Family | None) -> tuple[str, ...]:
    """Tokens never to generate: the family's, or every family's when none is known (a text model
    whose vocabulary has them, e.g. a Qwen LM, must not emit them either)."""
    if family is not None:
        return family.vision_tokens
    return tuple(dict.fromkeys(t for f in FAMILIES for t in f.vision_tokens))


def image_placeholders(family: Family | None) -> tuple[str, ...]:
    if family is not None:
        return (family.image_placeholder,)
    return tuple(dict.fromkeys(f.image_placeholder for f in FAMILIES))


__all__ = ["FAMILIES", "Family", "QwenVL", "TENSOR_KINDS", "family_of", "family_of_config", "image_placeholders",
           "vision_tokens"]
