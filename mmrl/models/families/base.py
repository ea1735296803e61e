"""What a vision-language family must tell the rest of mmrl, and the Qwen-VL way of telling it.

A `Family` is the one place that knows a VLM family's conventions: the placeholder a chat template
writes per image, the vision tokens the policy must never generate, how an image is resized onto
the patch grid, how many language tokens a prepared image expands to, and which processor outputs
are per-token (padded with the prompt) or per-image (concatenated in row order). Engines, batching,
guards and the trainer ask the family; none of them names a token or tensor itself."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ...errors import UserError


@dataclass(frozen=True)
class Family:
    name: str                            # shown in messages and docs, e.g. "qwen3-vl"
    model_types: tuple[str, ...]         # config.model_type values this adapter serves
    processor_classes: tuple[str, ...]   # processor class names (tools and tests build processors directly)
    image_placeholder: str               # written once per image by the chat template, expanded by the processor
    vision_tokens: tuple[str, ...]       # never to be generated (fed back, they crash the next forward)
    per_token: tuple[str, ...]           # processor outputs [1, L] besides input_ids/attention_mask: padded with 0
    per_image: tuple[str, ...]           # processor outputs stacked over images: concatenated in row order

    def check(self, config, processor) -> None:
        """Refuse a folder whose processor grid disagrees with the model's vision tower (the forward
        would crash later with a shape error, or worse, run on the wrong grid)."""

    def prepare_images(self, processor, images: Sequence, min_pixels=None, max_pixels=None) -> list:
        """RGB images resized onto the model's patch grid within [min_pixels, max_pixels], so the
        trainer and every engine see the same pixels."""
        raise NotImplementedError

    def image_tokens(self, processor, image) -> int:
        """Language tokens one prepared image expands to."""
        raise NotImplementedError

    def engine_pixel_kwargs(self, min_pixels=None, max_pixels=None) -> dict:
        """The pixel bounds as the family's processor takes them (vLLM's mm_processor_kwargs)."""
        return {}

    def token_tensors(self, processor, ids) -> dict:
        """The per-token tensors [1, t] of token ids the processor did not encode (a tool turn that
        shows images, inside a response), as the processor gives them for a prompt."""
        raise NotImplementedError


@dataclass(frozen=True)
class QwenVL(Family):
    """Qwen2-VL, Qwen2.5-VL and Qwen3-VL: <|image_pad|> expanded to (h/f)*(w/f) tokens with
    f = patch_size x merge_size read from the processor (28 for Qwen2/2.5-VL, 32 for Qwen3-VL),
    images resized by qwen-vl-utils, M-RoPE positions from mm_token_type_ids."""
    image_placeholder: str = "<|image_pad|>"
    vision_tokens: tuple[str, ...] = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    # mm_token_type_ids: without it the model silently drops its M-RoPE image positions (a 0.68-nat
    # rollout gap on smolvl)
    per_token: tuple[str, ...] = ("mm_token_type_ids",)
    per_image: tuple[str, ...] = ("pixel_values", "image_grid_thw")

    def check(self, config, processor) -> None:
        from qwen_vl_utils.vision_process import SPATIAL_MERGE_SIZE

        ip, vision = processor.image_processor, config.vision_config
        pairs = [("patch_size", ip.patch_size, vision.patch_size),
                 ("merge_size", ip.merge_size, vision.spatial_merge_size)]
        for what, proc_value, model_value in pairs:
            if proc_value != model_value:
                raise UserError(f"{self.name} folder: the processor's {what} is {proc_value} but the vision "
                                f"tower's is {model_value}; fix preprocessor_config.json")
        if ip.merge_size != SPATIAL_MERGE_SIZE:  # qwen-vl-utils resizes for a merge of 2 only
            raise UserError(f"{self.name}: merge_size {ip.merge_size} is not supported by qwen-vl-utils "
                            f"(it assumes {SPATIAL_MERGE_SIZE})")

    def factor(self, processor) -> int:
        """Pixels per language token along one side (patch size x spatial merge)."""
        ip = processor.image_processor
        return ip.patch_size * ip.merge_size

    def pixel_bounds(self, processor, min_pixels=None, max_pixels=None) -> tuple[int, int]:
        ip = processor.image_processor
        size = getattr(ip, "size", None) or {}
        lo = min_pixels or getattr(ip, "min_pixels", None) or size.get("shortest_edge")
        hi = max_pixels or getattr(ip, "max_pixels", None) or size.get("longest_edge")
        return int(lo), int(hi)

    def prepare_images(self, processor, images: Sequence, min_pixels=None, max_pixels=None) -> list:
        from qwen_vl_utils import fetch_image

        lo, hi = self.pixel_bounds(processor, min_pixels, max_pixels)
        patch = processor.image_processor.patch_size
        return [fetch_image({"image": im, "min_pixels": lo, "max_pixels": hi}, image_patch_size=patch)
                for im in images]

    def image_tokens(self, processor, image) -> int:
        f = self.factor(processor)
        return (image.height // f) * (image.width // f)

    def engine_pixel_kwargs(self, min_pixels=None, max_pixels=None) -> dict:
        pixels = {"min_pixels": min_pixels, "max_pixels": max_pixels}
        return {k: v for k, v in pixels.items() if v}

    def token_tensors(self, processor, ids) -> dict:
        import torch

        return {"mm_token_type_ids": torch.tensor(processor.create_mm_token_type_ids([list(ids)]))}  # the processor's own rule
