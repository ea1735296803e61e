"""Curricula and sampling: which prompts go into a batch and which groups count.
DAPO dynamic sampling (dynamic_sampling.py), DUMP (dump.py), CLPO (clpo.py)."""
from .clpo import CLPOConfig, bucket, extract_rewrite, informative, kl_scale, rewrite_instruction, wants_rewrite
from .dump import DUMPSampler
from .dynamic_sampling import GroupFilter, fill_batch

__all__ = ["CLPOConfig", "bucket", "extract_rewrite", "informative", "kl_scale", "rewrite_instruction",
           "wants_rewrite", "DUMPSampler", "GroupFilter", "fill_batch"]
