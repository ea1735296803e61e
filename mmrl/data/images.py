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
    def __init__(self, path: Path, sample_id: str, why: str):
        super().__init__(f"sample {sample_id}: image {path}: {why}")


def image_paths(sample: dict, key: str) -> list[str]:
    value = sample.get(key)
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def load_images(sample: dict, key: str, root: Path, sample_id: str) -> list[Image.Image]:
    images = []
    for name in image_paths(sample, key):
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
