"""Training data: local jsonl/parquet samples, chat prompts, images, the step sampler, generators."""
from .chat import chat_text
from .dataset import chat_prompt, check_keys, load_samples, verifier_item
from .images import BadImage, images_or_skip, load_images
from .sampler import StepSampler

__all__ = ["load_samples", "check_keys", "chat_prompt", "chat_text", "verifier_item", "BadImage",
           "images_or_skip", "load_images", "StepSampler"]
