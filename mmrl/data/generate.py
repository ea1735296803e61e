"""Procedural task data: write reasoning-gym items as mmrl jsonl samples (train + held-out).

Each line: {"question", "answer", "verifier": "math", "source": "<task>/<index>"}. The held-out
slice uses a different seed, so it shares no generator state with the training items.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError


def reasoning_gym_samples(task: str, size: int, seed: int, config: dict) -> list[dict]:
    import reasoning_gym

    try:
        dataset = reasoning_gym.create_dataset(task, size=size, seed=seed, **config)
    except (ValueError, TypeError, KeyError, AssertionError) as e:
        raise UserError(f"data.generate: reasoning-gym task {task!r} with config {config}: {e}") from None
    return [{"question": item["question"], "answer": str(item["answer"]), "verifier": "math",
             "source": f"{task}/{i}"} for i, item in enumerate(dataset)]


def write_jsonl(samples: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(s) + "\n" for s in samples))
    tmp.replace(path)  # atomic: a killed run never leaves half a file behind
    return path


def generate_split_files(generator, out_dir: Path) -> tuple[Path, Path | None]:
    """Write train.jsonl (and held_out.jsonl) for a recipe's `data.generate` section; reuse existing."""
    train, held = out_dir / "train.jsonl", out_dir / "held_out.jsonl"
    if not train.exists():
        write_jsonl(reasoning_gym_samples(generator.task, generator.train_size, generator.seed,
                                          generator.config), train)
    if generator.held_out_size and not held.exists():
        write_jsonl(reasoning_gym_samples(generator.task, generator.held_out_size, generator.seed + 10**6,
                                          generator.config), held)
    return train, (held if generator.held_out_size else None)
