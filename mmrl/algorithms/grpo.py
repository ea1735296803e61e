"""GRPO (DeepSeekMath, arXiv 2402.03300; algorithms.md §2): group z-score advantage, PPO clip,
k3 KL to the reference in the loss, seq-mean-token-mean. It is the base class itself."""
from .base import Algorithm, register


@register("grpo")
class GRPO(Algorithm):
    pass
