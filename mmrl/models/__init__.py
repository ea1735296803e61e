"""Backbones: the embedded default model, the test VLM, loading, prompt encoding, log-probs."""
from .backbone import encode_prompt, is_vlm, load_policy, load_processor, prepare_images, resolve_model, torch_dtype
from .batch import sequence_batch
from .logprobs import token_logprobs
from .cache import cache_root
from .smollm2 import default_model_dir
from .smolvl import test_vlm_dir

__all__ = ["cache_root", "default_model_dir", "encode_prompt", "is_vlm", "load_policy", "load_processor",
           "prepare_images", "resolve_model", "sequence_batch", "test_vlm_dir", "token_logprobs", "torch_dtype"]
