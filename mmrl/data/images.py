"""Images named by a sample, loaded and checked before they reach the engines.

A missing or unreadable image is reported with its file and sample (`BadImage`); the recipe's
`data.on_bad_image` decides whether that stops the run (`fail`) or drops the sample (`skip`,
counted in the step metrics).
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..errors import UserError


class BadImage(Exception):
    def __init__(self, path: Path | None, sample_id: str, why: str):
        super().__init__(f"sample {sample_id}: image {path}: {why}" if path else f"sample {sample_id}: {why}")


def image_paths(sample: dict, key: str) -> list[str]:
    value = sample.get(key)
    if value is None:
        return []
    paths = [value] if isinstance(value, str) else value if isinstance(value, list) else None
    if paths is None or not all(isinstance(p, str) for p in paths):
        raise ValueError(f"{key!r} must be a path or a list of paths, got {value!r:.80}")
    return paths


def check_images(samples: list[dict], key: str, root: Path, where: str) -> tuple[int, list[str]]:
    """Open and decode every image of every sample (the preflight's check, before any engine):
    (images checked, one problem line per bad sample)."""
    count, bad = 0, []
    for i, sample in enumerate(samples):
        try:
            count += len(load_images(sample, key, root, f"{i} of {where}"))
        except BadImage as e:
            bad.append(str(e))
    return count, bad


def load_images(sample: dict, key: str, root: Path, sample_id: str) -> list[Image.Image]:
    images = []
    try:
        names = image_paths(sample, key)
    except ValueError as e:
        raise BadImage(None, sample_id, str(e)) from None
    for name in names:
        path = Path(name) if Path(name).is_absolute() else root / name
        if not path.is_file():
            raise BadImage(path, sample_id, "no such file")
        try:
            with Image.open(path) as img:
                img.load()  # decode now: a truncated file fails here, not inside the engine
                images.append(img.convert("RGB"))
        except Exception as e:
            raise BadImage(path, sample_id, f"cannot be decoded ({type(e).__name__}: {e})") from None
    return images


def images_or_skip(sample: dict, data, root: Path, sample_id: str) -> list[Image.Image] | None:
    """The sample's images under the recipe's policy: None = skip this sample (on_bad_image: skip)."""
    try:
        return load_images(sample, data.image_key, root, sample_id)
    except BadImage as e:
        if data.on_bad_image == "fail":
            raise UserError(f"{e} (set data.on_bad_image=skip to skip such samples)") from None
        return None
