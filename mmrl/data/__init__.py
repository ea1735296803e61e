"""Training data: local jsonl/parquet samples, chat prompts, images, the step sampler, generators."""
from .dataset import chat_prompt, check_keys, load_samples, messages_for, verifier_item
from .images import BadImage, images_or_skip, load_images
from .sampler import StepSampler

__all__ = ["load_samples", "check_keys", "chat_prompt", "messages_for", "verifier_item", "BadImage",
           "images_or_skip", "load_images", "StepSampler"]
