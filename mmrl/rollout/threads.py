"""Thread settings for colocated rollouts. On a few shared cores OpenMP spin-waiting dominates:
one thread per engine ran ~10x faster than two under contention (shared/spec/environment.md).
An in-process vLLM worker replaces torch.set_num_threads with a no-op, so keep the original."""
from __future__ import annotations

import os

import torch

_set_num_threads = torch.set_num_threads  # saved before any vLLM worker patches it


def set_threads(n: int) -> None:
    """Set torch/OpenMP threads for this process; still works after a vLLM engine was created."""
    os.environ["OMP_NUM_THREADS"] = str(n)
    _set_num_threads(n)
