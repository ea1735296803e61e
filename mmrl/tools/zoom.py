"""The `zoom` tool ("thinking with images"): crops a box of an input image and returns it enlarged
as a new image, shown to a vision-language policy in the tool turn.

arguments: {"box": [x1, y1, x2, y2], "image": 0}  -- pixels of the input image as given to the
rollout (x right, y down, x1 < x2, y1 < y2, inside the image); "bbox_2d" is accepted for "box"
(Qwen-VL's grounding key); "image" indexes the response's input images (default 0).
options: target_pixels (the enlarged crop's area; default 200704 = 448 x 448), max_scale (4),
min_side (4: smaller boxes are refused, there is nothing to see)."""
from __future__ import annotations

import math
import numbers

from PIL import Image

from .registry import ToolContext, ToolResult, register_tool


def _bad(text: str) -> ToolResult:
    return ToolResult(text, error="bad_arguments")


@register_tool("zoom")
def zoom_tool(arguments: dict, ctx: ToolContext) -> ToolResult:
    if not ctx.images:
        return _bad("zoom: this prompt has no image to zoom into")
    index = arguments.get("image", 0)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(ctx.images):
        return _bad(f"zoom: \"image\" must be an index from 0 to {len(ctx.images) - 1}, got {index!r}")
    image = ctx.images[index]
    box = arguments.get("box", arguments.get("bbox_2d"))
    if not (isinstance(box, (list, tuple)) and len(box) == 4
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in box)):
        return _bad(f'zoom: "box" must be four numbers [x1, y1, x2, y2], got {box!r}')
    x1, y1, x2, y2 = (round(v) for v in box)
    w, h = image.size
    min_side = int(ctx.options.get("min_side", 4))
    if x1 < 0 or y1 < 0 or x2 > w or y2 > h:
        return _bad(f"zoom: box {list(box)} is outside image {index}, which is {w}x{h} pixels (x < {w}, y < {h})")
    if x2 - x1 < min_side or y2 - y1 < min_side:
        return _bad(f"zoom: box {list(box)} must have x1 < x2 and y1 < y2 and be at least {min_side} pixels "
                    f"on each side")
    crop = image.convert("RGB").crop((x1, y1, x2, y2))
    target = float(ctx.options.get("target_pixels", 448 * 448))
    scale = min(float(ctx.options.get("max_scale", 4.0)), max(1.0, math.sqrt(target / (crop.width * crop.height))))
    size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
    zoomed = crop.resize(size, Image.Resampling.BICUBIC) if size != crop.size else crop
    return ToolResult(f"zoom of box [{x1}, {y1}, {x2}, {y2}] of image {index}, enlarged {scale:.2g}x to "
                      f"{size[0]}x{size[1]}:", images=[zoomed])
