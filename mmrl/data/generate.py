"""Procedural task data written as mmrl jsonl samples (train + held-out), no download needed:
- `reasoning_gym`: any reasoning-gym task (text);
- `count_shapes`: PNG images with 1..N filled circles, "How many circles?" (a multimodal task);
- `gui_targets`: GUI-like screenshots (a title bar and coloured buttons), "where is the <colour>
  button?", gold = the button's box in image pixels (GUI grounding, verifier `aepo`);
- `scenes`: items of mmrl's rendered scenes (docs/scenes.md) for the skills in `config.skills`:
  training items from the scenes' train split, held-out items from their held-out split, each with
  its own verifier (math for counts, mcq for names, grounding for boxes, gui for clicks;
  `gui_answer: candidates` asks for several points instead, judged by aepo; `coords: fractions` asks
  for gui and ground coordinates in fractions of the image's sides instead of pixels).

Each line: {"question", "answer", "verifier": "math", "source": "<task>/<index>"} (+ "images").
The held-out slice uses a different seed, so it shares no generator state with the training items.
"""
from __future__ import annotations

import json
import random
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


def count_shapes_samples(out_dir: Path, split: str, size: int, seed: int, config: dict) -> list[dict]:
    from PIL import Image, ImageDraw

    allowed = {"min_count": 1, "max_count": 5, "image_size": 112}
    unknown = set(config) - set(allowed)
    if unknown:
        raise UserError(f"data.generate.config: unknown key(s) {sorted(unknown)} for count_shapes; "
                        f"allowed: {', '.join(allowed)}")
    cfg = {**allowed, **config}
    rng, side = random.Random(seed), cfg["image_size"]
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(size):
        count = rng.randint(cfg["min_count"], cfg["max_count"])
        img = Image.new("RGB", (side, side), "white")
        draw = ImageDraw.Draw(img)
        for _ in range(count):
            r = rng.randint(side // 16, side // 8)
            x, y = rng.randint(r, side - r), rng.randint(r, side - r)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=rng.choice(["red", "blue", "green", "black"]))
        name = f"images/{split}_{i}.png"
        img.save(out_dir / name)
        samples.append({"question": "How many circles are in the image? Answer with a number.",
                        "answer": str(count), "images": [name], "verifier": "math",
                        "source": f"count_shapes/{split}/{i}"})
    return samples


# How scene questions ask for coordinates -> the verifier frames that read such answers.
COORDS = {"pixels": ("abs", "qwen25_resized"), "fractions": ("norm1",)}


def scenes_samples(out_dir: Path, split: str, size: int, seed: int, config: dict) -> list[dict]:
    from ..scenes import build

    allowed = {"skills": ["count"], "gui_answer": "click", "coords": "pixels"}
    unknown = set(config) - set(allowed)
    if unknown:
        raise UserError(f"data.generate.config: unknown key(s) {sorted(unknown)} for scenes; "
                        f"allowed: {', '.join(allowed)}")
    cfg = {**allowed, **config}
    skills = cfg["skills"]
    if isinstance(skills, str) or not skills or any(s not in build.SKILLS for s in skills):
        raise UserError(f"data.generate.config.skills: {skills!r}; a list of scene skills from "
                        f"{', '.join(build.SKILLS)}")
    if cfg["gui_answer"] not in ("click", "candidates"):
        raise UserError(f"data.generate.config.gui_answer: {cfg['gui_answer']!r}; 'click' (one point, gui "
                        "verifier) or 'candidates' (AEPO's several points, aepo verifier)")
    if cfg["coords"] not in COORDS:
        raise UserError(f"data.generate.config.coords: {cfg['coords']!r}; 'pixels' (verifier frame qwen25_resized) "
                        "or 'fractions' (of the image's sides, verifier frame norm1)")
    # Both splits of the scenes are disjoint by construction (a spec's hash picks its split).
    made = build.items("train" if split == "train" else "heldout", seed, -(-size // len(skills)), skills)
    per_skill = len(made) // len(skills)
    interleaved = [made[k * per_skill + i] for i in range(per_skill) for k in range(len(skills))][:size]
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    samples = []
    for item in interleaved:
        if item.skill == "gui" and cfg["gui_answer"] == "candidates":
            item = build.as_candidates(item)
        if cfg["coords"] == "fractions":
            item = build.in_fractions(item)
        name = f"images/{item.id}.png"
        item.image.save(out_dir / name)
        samples.append({"question": item.question, "answer": item.gold, "images": [name],
                        "verifier": item.verifier, "skill": item.skill, "source": f"scenes/{item.id}"})
    return samples


GUI_COLOURS = ("red", "blue", "green", "orange", "purple", "black")


def gui_targets_samples(out_dir: Path, split: str, size: int, seed: int, config: dict) -> list[dict]:
    from PIL import Image, ImageDraw

    allowed = {"buttons": 3, "image_size": 112}
    unknown = set(config) - set(allowed)
    if unknown:
        raise UserError(f"data.generate.config: unknown key(s) {sorted(unknown)} for gui_targets; "
                        f"allowed: {', '.join(allowed)}")
    cfg = {**allowed, **config}
    if not 1 <= cfg["buttons"] <= len(GUI_COLOURS):
        raise UserError(f"data.generate.config.buttons: {cfg['buttons']}; allowed: 1..{len(GUI_COLOURS)}")
    rng, side = random.Random(seed), cfg["image_size"]
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rows, bar = cfg["buttons"], side // 8        # one button per row band below the title bar
    band = (side - bar) // rows
    samples = []
    for i in range(size):
        img = Image.new("RGB", (side, side), "white")
        draw = ImageDraw.Draw(img)
        draw.rectangle([0, 0, side - 1, bar - 1], fill="lightgray")
        colours = rng.sample(GUI_COLOURS, rows)
        boxes = []
        for k, colour in enumerate(colours):
            w, h = rng.randint(side // 4, side // 2), max(4, band // 2)
            x1 = rng.randint(2, side - w - 2)
            y1 = bar + k * band + rng.randint(1, max(1, band - h - 1))
            boxes.append([x1, y1, x1 + w, y1 + h])
            draw.rectangle(boxes[-1], fill=colour)
        target = rng.randrange(rows)
        name = f"images/{split}_{i}.png"
        img.save(out_dir / name)
        samples.append({"question": f"This app screenshot is {side}x{side} pixels. Where is the "
                                    f"{colours[target]} button? Give up to 3 candidate points, most likely first, "
                                    'as [{"point_2d": [x, y]}, ...].',
                        "answer": json.dumps(boxes[target]), "images": [name], "verifier": "aepo",
                        "image_size": [side, side], "source": f"gui_targets/{split}/{i}"})
    return samples


def task_samples(generator, out_dir: Path, split: str, size: int, seed: int) -> list[dict]:
    if generator.kind == "count_shapes":
        return count_shapes_samples(out_dir, split, size, seed, generator.config)
    if generator.kind == "gui_targets":
        return gui_targets_samples(out_dir, split, size, seed, generator.config)
    if generator.kind == "scenes":
        return scenes_samples(out_dir, split, size, seed, generator.config)
    if generator.mix:  # named sources in equal shares (a curriculum's arms, e.g. easy vs hard)
        out = []
        for k, part in enumerate(generator.mix):
            share = reasoning_gym_samples(part.task, size // len(generator.mix), seed + k, part.config)
            out += [{**s, "source": f"{part.name}/{i}"} for i, s in enumerate(share)]
        return out
    return reasoning_gym_samples(generator.task, size, seed, generator.config)


def write_jsonl(samples: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(s) + "\n" for s in samples))
    tmp.replace(path)  # atomic: a killed run never leaves half a file behind
    return path


SETTINGS = "generator.json"  # beside the generated files: the data.generate section that wrote them


def stale_settings(generator, out_dir: Path) -> str | None:
    """Why the files in `out_dir` are not what `generator` would write (None: they are, or none
    exist yet). Reusing them silently would train on the old task after the recipe changed."""
    marker = Path(out_dir) / SETTINGS
    if not marker.is_file():
        return None
    old = json.loads(marker.read_text(encoding="utf-8"))
    new = generator.model_dump(mode="json")
    if old == new:
        return None
    changed = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
                        if old.get(k) != new.get(k))
    return (f"data.generate: {out_dir} holds data generated with other settings ({changed}); "
            f"use another run name (name=...) or delete that folder")


def generate_split_files(generator, out_dir: Path) -> tuple[Path, Path | None]:
    """Write train.jsonl (and held_out.jsonl) for a recipe's `data.generate` section; reuse the
    files a previous run (or the preflight) wrote with the same settings, refuse other settings."""
    train, held = out_dir / "train.jsonl", out_dir / "held_out.jsonl"
    stale = stale_settings(generator, out_dir)
    if stale:
        raise UserError(stale)
    if not train.exists():
        write_jsonl(task_samples(generator, out_dir, "train", generator.train_size, generator.seed), train)
    if generator.held_out_size and not held.exists():
        write_jsonl(task_samples(generator, out_dir, "held_out", generator.held_out_size, generator.seed + 10**6),
                    held)
    marker = out_dir / SETTINGS
    if not marker.exists():
        marker.write_text(json.dumps(generator.model_dump(mode="json"), indent=1) + "\n")
    return train, (held if generator.held_out_size else None)
