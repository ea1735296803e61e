"""Build scene items of a split, in memory or as a folder (items.jsonl + PNGs) that eval/scenes.yaml reads.

    python -m mmrl.scenes.build --split heldout --seed 1 --per-skill 24 --out data/scenes
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from . import gui
from .items import SHAPE_SKILLS, SPLITS, Item, ground_question, ground_reference, item_rng, make_item, split_of

SKILLS = (*SHAPE_SKILLS, "gui")


def gui_items(split: str, seed: int, indices: list[int]) -> list[Item]:
    """Click items on browser-rendered screens (one chromium page per 24 screens)."""
    chosen = []
    for index in indices:
        rng = item_rng(split, seed, "gui", index)
        while True:
            spec = gui.make_spec(rng)
            target = rng.choice(gui.elements_of(spec))
            full = {**spec, "skill": "gui", "target": [target.kind, target.name]}
            if split_of(full) == split:
                chosen.append((index, full, target))
                break
    out = []
    for (index, spec, target), (image, elements) in zip(chosen, gui.render([c[1] for c in chosen])):
        element = next(e for e in elements if (e.kind, e.name) == (target.kind, target.name))
        if not gui.visible(element):  # the layout leaves room for every element; say so if it did not
            raise RuntimeError(f"{split} gui item {index}: {element} lies outside the screen")
        x1, y1, x2, y2 = element.box
        gold = {"action": "click", "bbox": [x1, y1, x2, y2], "image_size": list(gui.SIZE)}
        reference = gui.click_reference([(x1 + x2) // 2, (y1 + y2) // 2])
        out.append(Item(f"{split}-gui-{index:05d}", "gui", image, gui.instruction(element), "gui", gold,
                        reference, gui.caption(spec), [], f"{element.kind} {element.name}", spec))
    return out


def as_candidates(item: Item) -> Item:
    """A gui item in AEPO's multi-answer form: the same screen and gold box, answered with candidate
    points (best first) and judged by the aepo verifier."""
    kind, name = item.spec["target"]
    x1, y1, x2, y2 = item.gold["bbox"]
    return replace(item, question=gui.instruction(gui.Element(kind, name), candidates=True), verifier="aepo",
                   reference=gui.click_reference([(x1 + x2) // 2, (y1 + y2) // 2], candidates=True))


def in_fractions(item: Item) -> Item:
    """A gui or ground item asking for coordinates in fractions of the image's sides (0 to 1; the
    verifiers' frame norm1) instead of pixels. Same scene and gold box. Why: a digit tokenizer writes
    pixels as numbers of 1-3 digits, so a number's first token says little about where it points
    ("1" starts 1, 10-19 and 100-199); every fraction reads "0." then coarse-to-fine digits, which
    suits a policy that learns one token at a time."""
    if item.skill not in ("gui", "ground"):
        return item
    w, h = item.gold["image_size"]
    x1, y1, x2, y2 = item.gold["bbox"]
    if item.skill == "ground":
        box = [round(x1 / w, 4), round(y1 / h, 4), round(x2 / w, 4), round(y2 / h, 4)]
        return replace(item, question=ground_question(item.answer, "fractions"),
                       reference=ground_reference(box))
    kind, name = item.spec["target"]
    point = [round((x1 + x2) / 2 / w, 3), round((y1 + y2) / 2 / h, 3)]
    candidates = item.verifier == "aepo"
    return replace(item, question=gui.instruction(gui.Element(kind, name), candidates, coords="fractions"),
                   reference=gui.click_reference(point, candidates))


def items(split: str, seed: int, per_skill: int, skills=SKILLS, start: int = 0) -> list[Item]:
    """`per_skill` items of each skill, indices start..start+per_skill-1, skill-major order."""
    out = []
    for skill in skills:
        indices = list(range(start, start + per_skill))
        out += gui_items(split, seed, indices) if skill == "gui" else [make_item(split, seed, i, skill) for i in indices]
    return out


def stream(split: str, seed: int, skills=SKILLS, chunk: int = gui.PER_PAGE) -> Iterator[Item]:
    """An endless, deterministic round-robin over the skills (for alignment training)."""
    start = 0
    while True:
        batch = items(split, seed, chunk, skills, start)
        for k in range(chunk):  # interleave the skills
            yield from batch[k::chunk]
        start += chunk


def record(item: Item, image_path: str) -> dict:
    return {"id": item.id, "skill": item.skill, "image": image_path, "question": item.question,
            "verifier": item.verifier, "gold": item.gold, "reference": item.reference, "answer": item.answer,
            "choices": item.choices, "caption": item.caption}


def write(out: Path, split: str, seed: int, per_skill: int, skills=SKILLS) -> list[Item]:
    (out / "images").mkdir(parents=True, exist_ok=True)
    made = items(split, seed, per_skill, skills)
    with open(out / "items.jsonl", "w", encoding="utf-8") as f:
        for item in made:
            rel = f"images/{item.id}.png"
            item.image.save(out / rel, optimize=True)
            f.write(json.dumps(record(item, rel)) + "\n")
    return made


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mmrl.scenes.build", description=__doc__.split("\n")[0])
    p.add_argument("--split", choices=SPLITS, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--per-skill", type=int, default=24)
    p.add_argument("--skills", default=",".join(SKILLS), help="comma-separated subset of " + ",".join(SKILLS))
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    skills = tuple(s for s in args.skills.split(",") if s)
    unknown = [s for s in skills if s not in SKILLS]
    if unknown or args.per_skill < 1:
        print(f"error: --skills: unknown skill {unknown[0]!r}" if unknown else "error: --per-skill must be >= 1",
              file=sys.stderr)
        return 2
    try:
        made = write(args.out, args.split, args.seed, args.per_skill, skills)
    except gui.BrowserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(made)} items to {args.out / 'items.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
