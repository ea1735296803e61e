"""Rollout engines: vLLM colocated with the trainer (weight sync) and transformers generate."""
from .base import Completion, GenRequest, RolloutEngine, SamplingConfig, build_engine

__all__ = ["Completion", "GenRequest", "RolloutEngine", "SamplingConfig", "build_engine"]
