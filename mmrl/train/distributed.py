"""Ranks: the environment DeepSpeed needs for one in-process rank, and relaunching `mmrl train`
under the `deepspeed` launcher for several ranks (CPU: DS_ACCELERATOR=cpu, gloo)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

from ..errors import UserError

LAUNCHED = "MMRL_LAUNCHED"  # set in children of the launcher so they do not relaunch


def on_gpu() -> bool:
    import torch
    return torch.cuda.is_available()


def accelerator_env() -> None:
    if not os.environ.get("DS_ACCELERATOR"):
        import torch
        os.environ["DS_ACCELERATOR"] = "cuda" if torch.cuda.is_available() else "cpu"


def init_distributed() -> None:
    """DeepSpeed's process group: NCCL on GPUs, gloo on the CPU. On the CPU it skips the
    shared-memory all-reduce kernel DeepSpeed would compile first (~50 s of C++ on each new machine):
    only DeepSpeed-Inference's inference_all_reduce uses it; training all-reduces through gloo."""
    import deepspeed
    import torch

    if not torch.cuda.is_available():
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def single_rank_env() -> None:
    """What the launcher would set, for a run in this process."""
    for key, value in [("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1")]:
        os.environ.setdefault(key, value)
    os.environ.setdefault("MASTER_PORT", str(free_port()))


def rank_and_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def launch(ranks: int, argv: list[str], threads: int) -> int:
    """Run `python -m mmrl.cli train <argv>` on `ranks` local ranks under the deepspeed launcher."""
    exe = shutil.which("deepspeed") or os.path.join(os.path.dirname(sys.executable), "deepspeed")
    if not os.path.exists(exe):
        raise UserError("training.ranks > 1 needs the `deepspeed` launcher on PATH (pip install deepspeed)")
    accelerator_env()
    env = {**os.environ, LAUNCHED: "1", "OMP_NUM_THREADS": str(threads)}
    cmd = [exe, "--num_gpus", str(ranks), "--master_port", str(free_port()), "--no_local_rank", "--module",
           "mmrl.cli", "train", *argv]
    return subprocess.call(cmd, env=env)
