"""Checkpoints: DeepSpeed's model + optimizer + scheduler state, plus this run's own state (step,
sampler position, the algorithm's running state (e.g. reward statistics), RNG states per rank).

Layout: <run>/checkpoints/step_<N>/ (DeepSpeed's files + trainer_state_rank<r>.pt + COMPLETE).
COMPLETE is written last, so a run killed mid-save is never resumed from a half checkpoint;
`resume: auto` picks the newest complete one. Export writes a plain HF folder (model weights,
config, processor/tokenizer) that transformers and vLLM load directly."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError

MARKER = "COMPLETE"


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def complete_checkpoints(root: Path) -> list[Path]:
    found = [p for p in root.glob("step_*") if (p / MARKER).exists()] if root.is_dir() else []
    return sorted(found, key=lambda p: int(p.name.split("_")[1]))


def find_resume(run_dir: Path, resume: str) -> Path | None:
    if resume == "never":
        return None
    if resume == "auto":
        found = complete_checkpoints(run_dir / "checkpoints")
        return found[-1] if found else None
    path = Path(resume)
    if not (path / MARKER).exists():
        raise UserError(f"checkpoint.resume: {path} is not a complete checkpoint (no {MARKER} file)")
    return path


def save(engine, run_dir: Path, step: int, state: dict, rank: int, keep: int) -> Path:
    import torch.distributed as dist

    root = run_dir / "checkpoints"
    path = root / f"step_{step}"
    engine.save_checkpoint(str(root), tag=path.name)
    torch.save({**state, "step": step, "rng": rng_state()}, path / f"trainer_state_rank{rank}.pt")
    if dist.is_initialized():
        dist.barrier()
    if rank == 0:
        (path / MARKER).write_text(str(step))
        for old in complete_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return path


def load(engine, path: Path, rank: int) -> dict:
    """Restore the engine in place; return the trainer state saved by this rank."""
    loaded, _ = engine.load_checkpoint(str(path.parent), tag=path.name)
    if loaded is None:
        raise UserError(f"checkpoint {path}: DeepSpeed could not load it")
    state_file = path / f"trainer_state_rank{rank}.pt"
    if not state_file.exists():
        raise UserError(f"checkpoint {path}: no {state_file.name} (saved with a different number of ranks?)")
    state = torch.load(state_file, weights_only=False)
    set_rng_state(state["rng"])
    return state


def export_hf(module, processor, named_params: list, out: Path) -> Path:
    """Save a plain HF folder from whole parameters (rank 0 only)."""
    out.mkdir(parents=True, exist_ok=True)
    state = {name: t.detach().cpu().contiguous() for name, t in named_params}
    module.save_pretrained(str(out), state_dict=state)
    processor.save_pretrained(str(out))
    return out
