"""Backbones: find a model folder, load it with its tokenizer or processor, and encode prompts.

Any causal LM folder loads through AutoModelForCausalLM + AutoTokenizer; a folder whose config has
a vision part through AutoModelForImageTextToText + AutoProcessor. Everything family-specific
(placeholder, resizing onto the patch grid, image-token counts, tensor names) is asked of the
family adapter (mmrl/models/families); the helpers below only delegate."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import UserError
from .smollm2 import NAME as SMOLLM2, default_model_dir
from .families import family_of, family_of_config
from .smolvl import NAME as SMOLVL, RANDOM_NAME as SMOLVL_RANDOM, random_vlm_dir, test_vlm_dir
from .tiny_qwen3vl import NAME as TINY_QWEN3VL, tiny_qwen3vl_dir

BUILT_IN = {SMOLLM2: default_model_dir, SMOLVL: test_vlm_dir, SMOLVL_RANDOM: random_vlm_dir,
            TINY_QWEN3VL: tiny_qwen3vl_dir}
DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
          "fp32": "float32", "float32": "float32"}


def resolve_model(name_or_path: str | Path) -> Path:
    """A built-in name ("smollm2-135m-instruct", "smolvl", "smolvl-random", "tiny-qwen3vl") or a local model folder -> its path."""
    key = str(name_or_path)
    if key.lower() in BUILT_IN:
        return BUILT_IN[key.lower()]()
    path = Path(key).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"model folder {path} has no config.json (expected a transformers save_pretrained folder)")
        return path
    hint = (" Model hubs are not used: download the model once and pass its local folder."
            if key.count("/") == 1 and not path.exists() else "")
    raise UserError(f"model {key!r} is neither a local folder nor a built-in model ({', '.join(BUILT_IN)}).{hint}")


def torch_dtype(name):
    """"bf16"/"bfloat16"/"fp32"/... or a torch.dtype -> torch.dtype; "auto" = bf16 where the hardware has it."""
    import torch

    if isinstance(name, torch.dtype):
        return name
    if name == "auto":
        return torch.bfloat16 if has_bf16() else torch.float32
    if name not in DTYPES:
        raise UserError(f"unknown dtype {name!r}; use one of auto, {', '.join(DTYPES)}")
    return getattr(torch, DTYPES[name])


def has_bf16() -> bool:
    """Whether bf16 runs natively: a CUDA GPU with bf16, or a CPU with avx512_bf16/amx_bf16 (elsewhere
    torch falls back to a reference matmul kernel, an order of magnitude slower than float32)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def is_vlm(config) -> bool:
    return getattr(config, "vision_config", None) is not None


def load_policy(path: str | Path, dtype="auto", *, attn_implementation: str = "sdpa", gradient_checkpointing=False):
    """Load a model folder for training or log-prob computation -> (model, processor_or_tokenizer)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    path = resolve_model(path)
    model_cls = AutoModelForImageTextToText if is_vlm(AutoConfig.from_pretrained(path)) else AutoModelForCausalLM
    processor = load_processor(path)  # first: a folder no family adapter serves is refused before the weights load
    model = model_cls.from_pretrained(path, dtype=torch_dtype(dtype), attn_implementation=attn_implementation)
    disable_dropout(model)
    if gradient_checkpointing:  # runs in train mode only: the update switches to it (mmrl/train/update.py)
        model.activation_checkpointing_enable()  # transformers 5 name (the old one warns)
    return model, processor


def disable_dropout(model) -> None:
    """Dropout off everywhere, so train mode (which gradient checkpointing needs) computes the same
    function as eval mode: the one the rollout sampled from and the ratio compares against."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):  # transformers' attention modules
            module.attention_dropout = 0.0


def load_processor(path: str | Path):
    """The folder's processor (VLM, checked against its family's grid) or tokenizer (text model)."""
    from transformers import AutoConfig, AutoProcessor, AutoTokenizer

    path = resolve_model(path)
    config = AutoConfig.from_pretrained(path)
    family = family_of_config(config)
    if family is None:
        return AutoTokenizer.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    family.check(config, processor)
    return processor


def tokenizer_of(processor):
    return getattr(processor, "tokenizer", processor)


def image_factor(processor) -> int:
    """Pixels per language token along one side, e.g. 28 for Qwen2.5-VL, 32 for Qwen3-VL."""
    return family_of(processor).factor(processor)


def prepare_images(processor, images: Sequence, min_pixels=None, max_pixels=None) -> list:
    """Images resized onto the model's patch grid within [min_pixels, max_pixels] (by its family),
    so the trainer and every engine see the same pixels."""
    return family_of(processor).prepare_images(processor, images, min_pixels, max_pixels)


def image_tokens(processor, image) -> int:
    """Language tokens one prepared image expands to."""
    return family_of(processor).image_tokens(processor, image)


def encode_prompt(processor, text: str, images: Sequence = (), min_pixels=None, max_pixels=None) -> dict:
    """Chat-templated text (+ images) -> model inputs with batch size 1: input_ids, attention_mask and,
    for a VLM, its family's per-token and per-image tensors (Qwen-VL: mm_token_type_ids, needed for
    M-RoPE positions; pixel_values, image_grid_thw)."""
    family = family_of(processor)
    if family is None:
        if images:
            raise UserError(f"the prompt has {len(images)} image(s) but the model is text-only")
        return dict(processor(text, add_special_tokens=False, return_tensors="pt"))
    images = family.prepare_images(processor, images, min_pixels, max_pixels)
    return dict(processor(text=[text], images=images or None, return_tensors="pt", add_special_tokens=False))


def image_inputs(processor, token_ids: Sequence[int], images: Sequence, min_pixels=None, max_pixels=None) -> dict:
    """The multimodal tensors of token ids whose image placeholders are already expanded (a multi-turn
    continuation; a response whose tool turns show images, zoom): the images' per-image tensors,
    prepared and processed by encode_prompt (same min/max pixels, so the same pixels as every engine),
    and the family's per-token tensors over token_ids [1, t] (Qwen-VL: mm_token_type_ids, without
    which the images' M-RoPE positions are wrong). No input_ids: the caller has them."""
    family = family_of(processor)
    if family is None:
        raise UserError(f"{len(images)} image(s) but the model is text-only")
    alone = encode_prompt(processor, family.image_placeholder * len(images), images, min_pixels, max_pixels)
    pad_ids, pads = set(alone["input_ids"][0].tolist()), alone["input_ids"].shape[1]  # the expanded placeholders
    if sum(t in pad_ids for t in token_ids) != pads:
        raise ValueError(f"the token ids' image tokens do not match their {len(images)} image(s) ({pads} tokens)")
    return {**{k: alone[k] for k in family.per_image}, **family.token_tensors(processor, token_ids)}
