"""Rollout engines: vLLM colocated with the trainer (weight sync) and transformers generate."""
from .base import Completion, GenRequest, RolloutEngine, SamplingConfig, build_engine
from .gap import logprob_gap

__all__ = ["Completion", "GenRequest", "RolloutEngine", "SamplingConfig", "build_engine", "logprob_gap"]
