"""Per-token ground truth of shape scenes, for pretraining smolvl's vision tower before alignment.

A tower trained only through the frozen language model's caption loss collapses to one
image-independent soft prompt (docs/scenes.md, session 8): lowering the loss through the caption's
form is cheaper than learning to see. Here the tower gets exact targets for each of its output
tokens instead. One merged token covers a CELL x CELL pixel square (patch 14, merge 2), and for each
we know from the drawing which shape covers it:

- colour and kind: those of the shape with the most pixels in the cell, when they fill at least
  MIN_SHARE of it or the shape's centre lies in it; else background (class 0);
- centres: how many shapes have their box centre in the cell (0, 1 or 2; summed over the cells
  of a kind it is that kind's count).

A small head reads these from the merger's output during training and is dropped afterwards."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import draw
from .draw import COLOURS, KINDS, SIZE, Placement

CELL = 28
MIN_SHARE = 1 / 8
MAX_CENTRES = 2  # small shapes (>= 16 px) with a 6 px gap: at most two centres in a 28 px cell
COLOUR_CLASSES = ("background", *COLOURS)
KIND_CLASSES = ("background", *KINDS)


@dataclass(frozen=True)
class TokenLabels:
    """(rows, cols) int arrays in the merger's raster order."""
    colour: np.ndarray   # index into COLOUR_CLASSES
    kind: np.ndarray     # index into KIND_CLASSES
    centres: np.ndarray  # shape centres in the cell, 0..MAX_CENTRES


def token_labels(spec: dict, size=SIZE) -> TokenLabels | None:
    """The labels of a shape scene's spec; None for text scenes and GUI screens (no shapes spec)."""
    if "shapes" not in spec:
        return None
    ps = [Placement(*s) for s in spec["shapes"]]
    rows, cols = size[1] // CELL, size[0] // CELL
    owner = draw.owners(ps, size)[:rows * CELL, :cols * CELL]
    cells = owner.reshape(rows, CELL, cols, CELL).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    share = np.stack([(cells == i + 1).mean(-1) for i in range(len(ps))]) if ps else np.zeros((0, rows, cols))
    centres = np.zeros((rows, cols), dtype=np.int64)
    holds_centre = np.zeros_like(share, dtype=bool)
    for i in range(len(ps)):
        ys, xs = np.nonzero(owner == i + 1)
        r, c = int((ys.min() + ys.max() + 1) / 2 // CELL), int((xs.min() + xs.max() + 1) / 2 // CELL)
        centres[r, c] += 1
        holds_centre[i, r, c] = True
    colour = np.zeros((rows, cols), dtype=np.int64)
    kind = np.zeros((rows, cols), dtype=np.int64)
    if ps:
        score = np.where(holds_centre, 1.0 + share, share)  # the centre's shape wins its cell
        best = score.argmax(0)
        labelled = score.max(0) >= MIN_SHARE
        colour_of = np.array([COLOUR_CLASSES.index(p.colour) for p in ps])
        kind_of = np.array([KIND_CLASSES.index(p.kind) for p in ps])
        colour[labelled], kind[labelled] = colour_of[best[labelled]], kind_of[best[labelled]]
    return TokenLabels(colour, kind, np.minimum(centres, MAX_CENTRES))


SKILLS = ("colour", "shape", "count", "position", "size", "ground")  # the shape scenes (they have labels)
HEADS = {"colour": len(COLOUR_CLASSES), "kind": len(KIND_CLASSES), "centres": MAX_CENTRES + 1}


def make_head(width: int):
    """A linear read-out of each merged token: colour, kind and centre-count logits side by side."""
    import torch

    return torch.nn.Linear(width, sum(HEADS.values()))


def targets(specs: list[dict], tokens: list[int]):
    """{name: (sum(tokens),) long tensor} for a batch; -100 (ignored) on images without labels.
    `tokens` is each image's merged-token count (image_grid_thw.prod(-1) // 4)."""
    import torch

    out = {name: [] for name in HEADS}
    for spec, n in zip(specs, tokens):
        labels = token_labels(spec)
        for name in HEADS:
            if labels is None or getattr(labels, name).size != n:
                out[name].append(torch.full((n,), -100, dtype=torch.long))
            else:
                out[name].append(torch.from_numpy(getattr(labels, name).reshape(-1)))
    return {name: torch.cat(v) for name, v in out.items()}


def loss_and_accuracy(head, features, wanted: dict):
    """The three cross-entropies, each the mean of its mean over shape cells and its mean over
    background cells (background is ~85% of the cells and would otherwise drown the shapes), and
    each head's accuracy on the shape cells."""
    import torch

    logits = torch.split(head(features).float(), list(HEADS.values()), dim=-1)
    shape_cells, background = wanted["kind"] > 0, wanted["kind"] == 0
    total, accuracy = 0.0, {}
    for (name, target), logit in zip(wanted.items(), logits):
        each = torch.nn.functional.cross_entropy(logit, target, ignore_index=-100, reduction="none")
        total = total + sum(each[cells].mean() for cells in (shape_cells, background) if cells.any()) / 2
        if shape_cells.any():
            accuracy[name] = (logit.argmax(-1)[shape_cells] == target[shape_cells]).float().mean().item()
    return total / len(HEADS), accuracy
