"""Coordinate frames of vision answers, and conversion between them (verifiers.md §5.1).

A model answers in one frame, the gold is stored in another; comparing them unconverted is the
most reported grounding bug (a Qwen2.5-VL box in resized pixels against original pixels is off by
up to a factor of ~3 on large screenshots). So every coordinate verifier is told the model's frame
explicitly and converts through the original image's pixels:

    abs             absolute pixels of the original image (gold default)
    qwen25_resized  absolute pixels of the Qwen2/2.5-VL model input after smart_resize
    norm1           normalised 0-1 of the image
    norm1000        normalised 0-1000 of the image (Qwen2-VL, Qwen3-VL)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

FRAMES = ("abs", "qwen25_resized", "norm1", "norm1000")
_ALIASES = {"original": "abs", "abs_original": "abs", "pixels": "abs",
            "abs_model": "qwen25_resized", "resized": "qwen25_resized",
            "norm_0_1": "norm1", "norm_0_1000": "norm1000"}

# qwen-vl-utils 0.0.14 defaults for Qwen2/2.5-VL (patch 14, 2x2 merge): 4 .. 16384 tokens of 28x28.
FACTOR = 28
MIN_PIXELS = 4 * FACTOR * FACTOR
MAX_PIXELS = 16384 * FACTOR * FACTOR
MAX_RATIO = 200
FRAME_OPTIONS = ("frame", "image_size", "model_size", "min_pixels", "max_pixels", "factor", "gold_frame")


class FrameError(ValueError):
    """The frame settings of a sample are unusable (the message names the bad setting)."""


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 1003520.0 from a JSON tool is fine
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FrameError(f"{name} must be a positive integer, got {value!r}")
    return value


def smart_resize(height: int, width: int, factor: int = FACTOR, min_pixels: int | None = None,
                 max_pixels: int | None = None) -> tuple[int, int]:
    """The Qwen2/2.5-VL processor's resize: (height, width) of the model input.

    Same formula as qwen_vl_utils.smart_resize (tests compare them); copied because importing
    qwen_vl_utils imports torch, and this library must stay torch-free. Like transformers'
    version, never returns a side below `factor` (qwen-vl-utils can return 0 for thin images)."""
    min_pixels = MIN_PIXELS if min_pixels is None else min_pixels
    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
    factor, min_pixels, max_pixels = (_positive_int(n, v) for n, v in (
        ("factor", factor), ("min_pixels", min_pixels), ("max_pixels", max_pixels)))
    if height <= 0 or width <= 0:
        raise FrameError(f"image size must be positive, got {width}x{height}")
    if max_pixels < min_pixels:
        raise FrameError(f"max_pixels {max_pixels} is below min_pixels {min_pixels}")
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise FrameError(f"aspect ratio of {width}x{height} exceeds {MAX_RATIO}")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def canonical_frame(name: Any) -> str:
    frame = _ALIASES.get(name, name) if isinstance(name, str) else name
    if frame not in FRAMES:
        raise FrameError(f"unknown frame {name!r}; use one of {', '.join(FRAMES)}")
    return frame


def _size(value: Any, what: str) -> tuple[float, float]:
    try:
        w, h = (float(v) for v in value)
    except (TypeError, ValueError):
        raise FrameError(f"{what} must be [width, height], got {value!r}") from None
    if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
        raise FrameError(f"{what} must be two positive numbers, got {value!r}")
    return w, h


@dataclass(frozen=True)
class Frame:
    """One coordinate frame of one image: `to_abs`/`from_abs` map points to original pixels."""

    name: str
    image_size: tuple[float, float] | None  # original (width, height); None only for "abs"
    extent: tuple[float, float] | None = None  # the image's (width, height) in this frame's units

    @classmethod
    def make(cls, frame: Any, image_size: Any = None, model_size: Any = None,
             min_pixels: int | None = None, max_pixels: int | None = None,
             factor: int = FACTOR) -> "Frame":
        """`model_size` ([W̄, H̄], e.g. image_grid_thw[1:][::-1]·14) overrides smart_resize."""
        name = canonical_frame(frame)
        size = None if image_size is None else _size(image_size, "image_size")
        if size is None:
            if name != "abs":
                raise FrameError(f"frame {name!r} needs the original image_size [width, height]")
            return cls(name, None)
        if name == "abs":
            return cls(name, size, size)
        if name in ("norm1", "norm1000"):
            unit = 1.0 if name == "norm1" else 1000.0
            return cls(name, size, (unit, unit))
        if model_size is not None:
            return cls(name, size, _size(model_size, "model_size"))
        mh, mw = smart_resize(round(size[1]), round(size[0]), factor, min_pixels, max_pixels)
        return cls(name, size, (float(mw), float(mh)))

    def to_abs(self, coords: Sequence[float]) -> list[float]:
        """[x, y] or [x1, y1, x2, y2] in this frame -> original pixels."""
        if self.extent is None:
            return [float(c) for c in coords]
        return [c * self.image_size[i % 2] / self.extent[i % 2] for i, c in enumerate(coords)]

    def from_abs(self, coords: Sequence[float]) -> list[float]:
        if self.extent is None:
            return [float(c) for c in coords]
        return [c * self.extent[i % 2] / self.image_size[i % 2] for i, c in enumerate(coords)]

    def describe(self) -> str:
        if self.image_size is None:
            return self.name
        ew, eh = self.extent
        return f"{self.name} (image {ew:g}x{eh:g} in this frame)"


def frames_from(options: dict[str, Any], gold_meta: dict[str, Any] | None = None) -> tuple[Frame, Frame]:
    """(model frame, gold frame) from a sample's options, with gold metadata as fallback
    (a gold dict may carry image_size, model_size, min/max_pixels, factor, and its own "frame").

    The model frame has no default on purpose: a missing `frame` is a configuration error that
    must be seen, not silently read as pixels."""
    gold_meta = gold_meta or {}
    unknown = sorted(set(options) - set(FRAME_OPTIONS))
    if unknown:
        raise FrameError(f"unknown option {unknown[0]!r}; frame options are {', '.join(FRAME_OPTIONS)}")
    if options.get("frame") is None:
        raise FrameError("no 'frame' option: say which frame the model answers in "
                         f"({', '.join(FRAMES)}); see docs/vision-verifiers.md")
    def setting(key: str, meta_key: str | None = None) -> Any:
        value = options.get(key)
        return value if value is not None else gold_meta.get(meta_key or key)

    image_size = setting("image_size")
    sizing = {k: setting(k) for k in ("model_size", "min_pixels", "max_pixels", "factor") if setting(k) is not None}
    model = Frame.make(options["frame"], image_size, **sizing)
    gold = Frame.make(setting("gold_frame", "frame") or "abs", image_size, **sizing)
    return model, gold


def suspect_frame(coords: Sequence[float], frame: Frame) -> str | None:
    """A warning when predicted numbers do not look like `frame` (most likely a wrong frame
    option), else None. Reported in the verdict's reason; the score is not changed."""
    values = [abs(c) for c in coords if math.isfinite(c)]
    if not values:
        return None
    extent = frame.extent
    if extent and max(values) > 1.5 * max(extent):
        return (f"frame warning: coordinates up to {max(values):g} lie far outside the image in "
                f"frame {frame.describe()}; is the 'frame' option right?")
    if frame.name != "norm1" and max(values) <= 1 and any(v != int(v) for v in values):
        return (f"frame warning: all coordinates lie within 0-1 but the frame is {frame.name}; "
                "normalised output?")
    return None
