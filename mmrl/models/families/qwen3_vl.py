"""Qwen3-VL: 16-pixel patches merged 2x2 (32 pixels per token side), interleaved M-RoPE and
DeepStack features fed into the first decoder layers; prompts carry the same tensors as Qwen2.5-VL
(pixel_values, image_grid_thw, mm_token_type_ids), the vision tokens are the same."""
from .base import QwenVL

FAMILY = QwenVL(name="qwen3-vl", model_types=("qwen3_vl",), processor_classes=("Qwen3VLProcessor",))
