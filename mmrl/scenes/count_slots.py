"""Counts written into image tokens, for a frozen language model to read (scripts/teach_counts.py).

Captions alone never taught smolvl's tower to give the frozen SmolLM2 a count (docs/scenes.md): the
caption loss hardly falls on "There are 3 stars", and a tower that does count has no example of what
a count should look like in the language model's input. So the count gets a fixed place and a
learned form: slot k (the k-th merged token of the image, top row) holds a vector that says "this
many of kind k", one learned vector per (kind, count), the codebook. The codebook is trained through
the frozen model on alignment captions; the tower then learns to write its rows there."""
from __future__ import annotations

from .draw import KINDS
from .items import MAX_COUNT, how_many

SLOTS = len(KINDS)  # slot k holds the count of KINDS[k]


def counts(spec: dict) -> list[int]:
    """Per kind (KINDS order), how many of it a shape scene's spec draws, at most MAX_COUNT."""
    kinds = [shape[0] for shape in spec["shapes"]]
    return [min(kinds.count(k), MAX_COUNT) for k in KINDS]


def count_caption(spec: dict) -> str:
    """The scene's count sentences in the alignment facts' words: every kind drawn, and the kind a
    count scene asks about when none is drawn ("There are no stars in the image.")."""
    asked = spec.get("kind")
    return " ".join(how_many(k, n) for k, n in zip(KINDS, counts(spec)) if n or k == asked)


class SlotWriter:
    """A forward hook on the vision tower that overwrites each image's first SLOTS merged tokens with
    `table[k, counts[k]]`; set `table` and `counts` (one list per image in the batch), or leave
    `counts` None to pass the tower's output through."""

    def __init__(self, visual):
        self.table, self.counts = None, None
        visual.register_forward_hook(self)

    def write(self, table, specs: list[dict] | None) -> None:
        """Write `table`'s rows for these scenes (one per image of the next forward); specs None: stop."""
        self.table, self.counts = table, None if specs is None else [counts(spec) for spec in specs]

    def __call__(self, module, inputs, out):
        if self.counts is None:
            return out
        merged = out.pooler_output.clone()
        merged.view(len(self.counts), -1, merged.shape[-1])[:, :SLOTS] = slot_targets(self.table, self.counts)
        out.pooler_output = merged
        return out


def slot_targets(table, batch_counts: list[list[int]]):
    """(images, SLOTS, width): what each image's slots should hold."""
    import torch

    return table[torch.arange(SLOTS)[None, :], torch.tensor(batch_counts)]


def decode(table, slots) -> list[list[int]]:
    """The count each slot vector is nearest to (cosine) in the codebook: (images, SLOTS, width) ->
    per image, per kind."""
    import torch

    sims = torch.nn.functional.cosine_similarity(slots[:, :, None, :], table[None, :, :, :], dim=-1)
    return sims.argmax(-1).tolist()


class MarkerWriter:
    """The other place for counts: a forward hook that adds `table[kind, centres - 1]` to every
    merged token whose cell holds a shape's centre (mmrl/scenes/dense.py's labels), so the tower's
    job stays local (it finds centres per token at 98%) and the language model counts the markers.
    Set `table` ((KINDS, MAX_CENTRES, width)) and `specs` (one per image), or leave `specs` None."""

    def __init__(self, visual):
        self.table, self.specs = None, None
        visual.register_forward_hook(self)

    def write(self, table, specs: list[dict] | None) -> None:
        """Add `table`'s markers for these scenes (one per image of the next forward); specs None: stop."""
        self.table, self.specs = table, specs

    def __call__(self, module, inputs, out):
        if self.specs is None:
            return out
        merged = out.pooler_output
        deltas = marker_deltas(self.table, self.specs, merged.shape[0] // len(self.specs))
        out.pooler_output = merged + deltas.reshape(merged.shape).to(merged.dtype)
        return out


def marker_deltas(table, specs: list[dict], tokens: int):
    """(images, tokens, width): the marker each token gets, zero where its cell holds no centre."""
    import torch

    from .dense import token_labels

    kind, centres = [], []
    for spec in specs:
        labels = token_labels(spec)
        if labels.kind.size != tokens:
            raise ValueError(f"{labels.kind.shape} cells for {tokens} tokens: not a 224x224 shape scene")
        kind.append(torch.from_numpy(labels.kind.reshape(-1)))
        centres.append(torch.from_numpy(labels.centres.reshape(-1)))
    kind, centres = torch.stack(kind), torch.stack(centres)
    padded = torch.cat([torch.zeros_like(table[:1]), table])  # row 0: background, no marker
    return padded[torch.where(centres > 0, kind, 0), (centres - 1).clamp(min=0)]
