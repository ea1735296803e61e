"""Qwen2-VL and Qwen2.5-VL (smolvl is one): 14-pixel patches merged 2x2, 28 pixels per token side."""
from .base import QwenVL

FAMILY = QwenVL(name="qwen2.5-vl", model_types=("qwen2_vl", "qwen2_5_vl"),
                processor_classes=("Qwen2VLProcessor", "Qwen2_5_VLProcessor"))
