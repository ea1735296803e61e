"""Dr. GRPO (arXiv 2503.20783; algorithms.md §3): no std division in the advantage, and a constant
normalizer (the generation budget) instead of each response's length. No KL."""
from .base import AggMode, Algorithm, Coef, Params, register


class DrGRPOParams(Params):
    norm_by_std: bool = False
    loss_agg_mode: AggMode = "seq-mean-token-sum-norm"   # needs norm_length = max_new_tokens
    beta: Coef = 0.0


@register("dr_grpo")
class DrGRPO(Algorithm):
    Params = DrGRPOParams
