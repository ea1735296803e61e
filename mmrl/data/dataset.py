"""Training samples from local jsonl/parquet files (HF `datasets`), and prompts built from them.

A sample is a dict: the prompt text (`data.prompt_key`), the gold answer (`data.gold_key`), an
optional `verifier` name (else `data.default_verifier`), optional image path(s) (`data.image_key`)
and any other keys, which reach the verifier as options (so a reward can see the sample's
metadata). One file can therefore mix math, code and grounding samples.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError

RESERVED = {"verifier", "source"}  # sample keys that are not verifier options


def load_samples(path: Path) -> list[dict]:
    """All rows of a .jsonl/.json or .parquet file as dicts."""
    import datasets

    kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(path.suffix)
    if kind is None:
        raise UserError(f"data file {path}: unsupported type {path.suffix!r}; use .jsonl or .parquet")
    if not path.is_file():
        raise UserError(f"data file {path}: no such file")
    datasets.disable_progress_bars()
    try:
        table = datasets.load_dataset(kind, data_files=str(path), split="train")
    except Exception as e:  # datasets wraps parser errors in several types; keep only the first line
        raise UserError(f"data file {path}: cannot be read: {str(e).splitlines()[0]}") from None
    if len(table) == 0:
        raise UserError(f"data file {path}: no samples")
    return list(table)


def check_keys(samples: list[dict], path: Path, data) -> None:
    for i, sample in enumerate(samples):
        for key in (data.prompt_key, data.gold_key):
            if sample.get(key) is None:
                raise UserError(f"data file {path}: sample {i} has no {key!r} "
                                f"(keys: {', '.join(sorted(sample))})")


def messages_for(sample: dict, data, n_images: int) -> list[dict]:
    """Chat messages: optional system prompt, then the user turn (images first, then text)."""
    text = data.prompt_template.format(prompt=sample[data.prompt_key])
    content = text if n_images == 0 else [{"type": "image"}] * n_images + [{"type": "text", "text": text}]
    system = [{"role": "system", "content": data.system_prompt}] if data.system_prompt else []
    return system + [{"role": "user", "content": content}]


def chat_prompt(processor, sample: dict, data, n_images: int = 0) -> str:
    """The chat-templated prompt text, ending with the assistant turn's opening."""
    return processor.apply_chat_template(messages_for(sample, data, n_images), tokenize=False,
                                         add_generation_prompt=True)


def verifier_item(sample: dict, data, options: dict) -> dict:
    """The verifier pool item for a sample, without the response: routed by the sample's `verifier`."""
    name = sample.get("verifier") or data.default_verifier
    extra = {k: v for k, v in sample.items()
             if k not in RESERVED | {data.prompt_key, data.gold_key, data.image_key} and v is not None}
    return {"verifier": name, "gold": sample[data.gold_key], **options.get(name, {}), **extra}
