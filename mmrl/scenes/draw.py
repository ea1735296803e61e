"""Drawing shape scenes with PIL, with exact ground truth.

Shapes are drawn without anti-aliasing in pure palette colours that no background uses, so every
pixel of a shape has exactly its colour; a shape's box is the tight box of the pixels it painted
(x2, y2 exclusive), read back from its own mask, never computed from the geometry. Shapes never
touch (a gap of at least GAP pixels), so one shape is one connected component of its colour."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = (224, 224)  # a multiple of 28 within smolvl's pixel bounds: the model sees it unresized (8x8 tokens)
GAP = 6            # minimum free pixels between two shapes' boxes
COLOURS = {"red": (220, 40, 40), "green": (30, 150, 60), "blue": (40, 80, 220),
           "yellow": (235, 195, 20), "orange": (240, 125, 20), "purple": (135, 55, 175)}
BACKGROUNDS = {"white": (255, 255, 255), "grey": (222, 222, 222), "cream": (250, 240, 215),
               "pale blue": (214, 230, 246), "pale green": (220, 240, 220), "pale pink": (250, 226, 232)}
KINDS = ("circle", "square", "triangle", "star", "diamond", "cross")
PLURALS = {kind: kind + ("es" if kind.endswith("s") else "s") for kind in KINDS}  # "crosses", not "crosss"
SIZES = {"small": (16, 24), "large": (38, 54)}  # full width range in pixels
TEXT_COLOURS = {"black": (20, 20, 20), **{k: COLOURS[k] for k in ("red", "blue", "green", "purple")}}


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    size: str                        # "small" | "large"
    box: tuple[int, int, int, int]   # painted pixels: x1, y1 inclusive; x2, y2 exclusive

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def name(self) -> str:
        return f"{self.colour} {self.kind}"


@dataclass(frozen=True)
class Placement:
    """What a scene spec says about one shape before drawing (the spec is hashed for splits)."""
    kind: str
    colour: str
    size: str
    cx: int
    cy: int
    width: int


def _outline(kind: str, cx: float, cy: float, w: float) -> list[tuple[float, float]] | None:
    r = w / 2
    if kind == "triangle":
        return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if kind == "diamond":
        return [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    if kind == "star":
        return [(cx + (r if i % 2 == 0 else 0.45 * r) * math.sin(i * math.pi / 5),
                 cy - (r if i % 2 == 0 else 0.45 * r) * math.cos(i * math.pi / 5)) for i in range(10)]
    return None


def _paint(draw: ImageDraw.ImageDraw, p: Placement, fill) -> None:
    r, (cx, cy) = p.width / 2, (p.cx, p.cy)
    if p.kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif p.kind == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif p.kind == "cross":
        t = max(3, round(p.width / 3)) / 2
        draw.rectangle([cx - r, cy - t, cx + r, cy + t], fill=fill)
        draw.rectangle([cx - t, cy - r, cx + t, cy + r], fill=fill)
    else:
        draw.polygon(_outline(p.kind, cx, cy, p.width), fill=fill)


def background(name: str, pattern: str, size=SIZE) -> Image.Image:
    """A solid tint, or the tint with faint stripes/grid in a slightly darker shade of it."""
    base = BACKGROUNDS[name]
    image = Image.new("RGB", size, base)
    if pattern != "plain":
        shade = tuple(max(0, c - 14) for c in base)
        draw = ImageDraw.Draw(image)
        for x in range(0, size[0], 16):
            if pattern in ("stripes", "grid"):
                draw.line([(x, 0), (x, size[1])], fill=shade)
        for y in range(0, size[1], 16):
            if pattern == "grid":
                draw.line([(0, y), (size[0], y)], fill=shade)
    return image


def place(rng: random.Random, kind: str, colour: str, size: str, taken: list[tuple[int, int, int, int]],
          canvas=SIZE, region=None, tries: int = 200) -> Placement | None:
    """A placement whose box (plus GAP) is free and inside `region` (x1, y1, x2, y2), or None."""
    x1, y1, x2, y2 = region or (0, 0, *canvas)
    for _ in range(tries):
        w = rng.randint(*SIZES[size])
        r = w // 2 + 1
        if x2 - x1 < 2 * r + 4 or y2 - y1 < 2 * r + 4:
            return None
        cx, cy = rng.randint(x1 + r + 2, x2 - r - 2), rng.randint(y1 + r + 2, y2 - r - 2)
        box = (cx - r, cy - r, cx + r + 1, cy + r + 1)
        if all(box[2] + GAP <= t[0] or t[2] + GAP <= box[0] or box[3] + GAP <= t[1] or t[3] + GAP <= box[1]
               for t in taken):
            taken.append(box)
            return Placement(kind, colour, size, cx, cy, w)
    return None


def _mask(p: Placement, size=SIZE) -> Image.Image:
    mask = Image.new("L", size, 0)
    _paint(ImageDraw.Draw(mask), p, 255)
    return mask


def owners(placements: list[Placement], size=SIZE) -> np.ndarray:
    """Which shape painted each pixel: an (height, width) int array, 0 for background, i + 1 for
    placements[i] (shapes never overlap, so each pixel has at most one)."""
    out = np.zeros(size[::-1], dtype=np.int16)
    for i, p in enumerate(placements):
        out[np.asarray(_mask(p, size)) > 0] = i + 1
    return out


def render(placements: list[Placement], bg: str, pattern: str, size=SIZE) -> tuple[Image.Image, list[Shape]]:
    """The scene image and its shapes, each with the tight box of the pixels it painted."""
    image = background(bg, pattern, size)
    shapes = []
    for p in placements:
        mask = _mask(p, size)
        ys, xs = np.nonzero(np.asarray(mask))
        image.paste(COLOURS[p.colour], mask=mask)
        shapes.append(Shape(p.kind, p.colour, p.size,
                            (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)))
    return image, shapes


def font(px: int) -> ImageFont.FreeTypeFont:
    """Pillow's embedded font (ships inside the pinned pillow wheel, so every machine draws the same)."""
    return ImageFont.load_default(size=px)


def render_text(text: str, bg: str, colour: str, px: int, xy: tuple[int, int], size=SIZE):
    """(image, ink box) of `text` drawn at `xy`; the box is measured on the drawn pixels."""
    image = background(bg, "plain", size)
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).text(xy, text, fill=255, font=font(px))
    image.paste(TEXT_COLOURS[colour], mask=mask)
    ys, xs = np.nonzero(np.asarray(mask))
    return image, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def text_size(text: str, px: int) -> tuple[int, int]:
    left, top, right, bottom = font(px).getbbox(text)
    return right, bottom
