#!/usr/bin/env python
"""Teach smolvl's tower to give the frozen SmolLM2 per-kind counts (mmrl/scenes/count_slots.py).

1. Codebook: one vector per (kind, count), written into the image's first six merged tokens over the
   tower's output, trained through the frozen language model on train-split count scenes to make it
   write their count sentences after the alignment prompts ("Describe the image."; never the count
   question). Initialised from the model's own embeddings of " <n> <kind plural>". Its held-out
   accuracy with the true counts written in is an oracle: what a tower that counts perfectly gives.
2. Tower: the tower learns to write those vectors itself (slot loss) while its other tokens stay
   those of the starting tower (keep loss), on train-split shape scenes; no language model in the loop.

`--place centres` puts the counts elsewhere: a marker per (kind, centres in the cell) added to each
token whose cell holds a shape's centre, for the language model to count (count_slots.MarkerWriter).

    nice -n 10 python scripts/teach_counts.py --out runs/counts/vision.safetensors   # about 40 min, 2 AVX2 cores
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="vision weights file (.safetensors); the codebook "
                   "goes beside it (.codebook.pt)")
    p.add_argument("--init", type=Path, help="starting vision weights (default: the shipped tower)")
    p.add_argument("--codebook", type=Path, help="reuse this codebook (.codebook.pt) instead of stage 1")
    p.add_argument("--codebook-steps", type=int, default=150, help="stage 1 steps, 8 captions each")
    p.add_argument("--codebook-lr", type=float, default=1e-2)
    p.add_argument("--tower-steps", type=int, default=300, help="stage 2 steps")
    p.add_argument("--tower-batch", type=int, default=32)
    p.add_argument("--tower-lr", type=float, default=5e-4)
    p.add_argument("--place", choices=("slots", "centres"), default="slots", help="slots: one count per kind in "
                   "the image's first six tokens; centres: a marker per kind added to each token whose cell holds "
                   "a shape's centre, for the language model to count (mmrl/scenes/count_slots.py)")
    p.add_argument("--codebook-form", choices=("free", "linear"), default="free", help="free: a row per (kind, "
                   "count); linear (slots): row = base + count x step per kind, a count a tower could compute "
                   "as a mean over its tokens")
    p.add_argument("--slot-loss", choices=("mse", "ce"), default="mse", help="mse: squared error to the codebook "
                   "rows (+ cosine); ce: cross-entropy of the slot's cosine to each count's row, classes "
                   "weighted by their inverse frequency in the batch (zeros are ~65%% of the slots)")
    p.add_argument("--limit", type=int, default=24, help="held-out count items for the oracle (shipped set, seed 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if args.codebook_form == "linear" and args.place != "slots":
        p.error("--codebook-form linear is for --place slots (a count per slot)")
    if args.out.suffix != ".safetensors":
        p.error(f"--out {args.out}: must end in .safetensors")
    for path, name in ((args.init, "--init"), (args.codebook, "--codebook")):
        if path is not None and not path.is_file():
            p.error(f"{name} {path}: no such file")
    if min(args.codebook_steps, args.tower_steps) < 0 or min(args.tower_batch, args.limit, args.threads) < 1 \
            or not (args.codebook_lr > 0 and args.tower_lr > 0):
        p.error("steps must be >= 0, --tower-batch, --limit and --threads >= 1, learning rates > 0")
    return args


def oracle_accuracy(model, processor, writer, table, held_out) -> float:
    """Held-out count accuracy (%) of the seeing report's ranking with the true counts written into
    the slots from `table`; table None: the tower as it is."""
    import torch

    from mmrl.scenes import seeing
    from mmrl.scenes.items import MAX_COUNT, how_many

    hit = 0
    for item in held_out:
        statements = [how_many(item.spec["kind"], n) for n in range(MAX_COUNT + 1)]
        writer.write(table, None if table is None else [item.spec])  # the image runs once
        with torch.no_grad():
            scores = seeing.candidate_logprobs(model, processor, item.image, seeing.report_question(item.question),
                                               statements)
        hit += max(range(len(scores)), key=scores.__getitem__) == int(item.answer)
    writer.write(None, None)
    return 100 * hit / len(held_out)


def train_codebook(model, processor, writer, args, log):
    import torch
    from tqdm import tqdm

    from mmrl.scenes import align, build
    from mmrl.scenes.count_slots import count_caption

    start = initial_table(model, processor, args.place)
    table, params = (linear_form if args.codebook_form == "linear" else free_form)(start)
    train, rng = build.stream("train", args.seed, ("count",)), random.Random(args.seed)
    opt = torch.optim.Adam(params, lr=args.codebook_lr)
    with tqdm(total=args.codebook_steps, desc="codebook", unit="step") as bar:
        for step in range(args.codebook_steps):
            batch = [next(train) for _ in range(8)]
            rows = [(item, align.example(item, rng)[0], count_caption(item.spec)) for item in batch]
            writer.write(table(), [item.spec for item in batch])
            loss = model(**align.collate(processor, rows)).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            log({"stage": "codebook", "step": step + 1, "loss": loss.item()})
            bar.set_postfix(loss=f"{loss.item():.3f}")
            bar.update()
    writer.write(None, None)
    return start, table().detach()


def free_form(start):
    """(table(), [table]): a row per (kind, count), each its own parameter, starting at `start`."""
    import torch

    table = torch.nn.Parameter(start.clone())
    return (lambda: table), [table]


def linear_form(start):
    """(table(), [base, step]): rows base[k] + n * step[k], fitted to `start`'s first and last rows."""
    import torch

    base = torch.nn.Parameter(start[:, 0].clone())
    step = torch.nn.Parameter((start[:, -1] - start[:, 0]) / (start.shape[1] - 1))
    n = torch.arange(start.shape[1], dtype=start.dtype)[None, :, None]
    return (lambda: base[:, None] + n * step[:, None]), [base, step]


def initial_table(model, processor, place):
    """Slots: the model's embedding of " <n> <plural>" per (kind, count). Centres: of " <n> <kind>"
    per (kind, centres in the cell), scaled to the tower's tokens (~60x an embedding's norm: a marker
    added at an embedding's size would change nothing the model reads)."""
    import torch

    from mmrl.scenes import build
    from mmrl.scenes.dense import MAX_CENTRES
    from mmrl.scenes.draw import KINDS, PLURALS
    from mmrl.scenes.items import MAX_COUNT

    embed = model.model.language_model.embed_tokens
    numbers = range(MAX_COUNT + 1) if place == "slots" else range(1, MAX_CENTRES + 1)
    with torch.no_grad():
        rows = torch.stack([torch.stack([embed(torch.tensor(processor.tokenizer(f" {n} {PLURALS[k]}")["input_ids"])).mean(0)
                                         for n in numbers]) for k in KINDS])
        if place == "slots":
            return rows
        images = [next(build.stream("train", 0, ("count",))).image]
        enc = processor.image_processor(images=images, return_tensors="pt")
        tokens = model.model.visual(enc["pixel_values"], grid_thw=enc["image_grid_thw"]).pooler_output
        return rows * (tokens.pow(2).mean() / rows.pow(2).mean()).sqrt()


def slot_ce(table, slots, true, temperature=0.05):
    """Cross-entropy of each slot's cosine to its kind's codebook rows against the true count, each
    count weighted by its inverse frequency in the batch."""
    import torch

    logits = torch.nn.functional.cosine_similarity(slots[:, :, None, :], table[None], dim=-1) / temperature
    target = torch.tensor(true).flatten()
    weight = 1.0 / torch.bincount(target, minlength=table.shape[1]).clamp(min=1).float()
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), target, weight=weight)


def train_tower(model, processor, table, args, log) -> None:
    """Slot loss (the codebook rows of the true counts) + keep loss (the starting tower's other
    tokens). Both squared errors are relative to the tower's mean square: its tokens are ~60x the
    codebook's norm, and relative to the codebook's the slot error swamps everything else. A
    cosine term gives the slots' small vectors their direction."""
    import torch
    from tqdm import tqdm

    from mmrl.scenes import build, dense
    from mmrl.scenes.count_slots import counts
    from pretrain_smolvl import schedule

    visual = model.model.visual
    teacher = copy.deepcopy(visual).requires_grad_(False)
    visual.requires_grad_(True)
    params = [p for p in visual.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.tower_lr, weight_decay=0.0)
    data = build.stream("train", args.seed, dense.SKILLS)  # the shape scenes
    with tqdm(total=args.tower_steps, desc="tower", unit="step") as bar:
        for step in range(args.tower_steps):
            items = [next(data) for _ in range(args.tower_batch)]
            enc = processor.image_processor(images=[i.image for i in items], return_tensors="pt")
            grid = enc["image_grid_thw"]
            for group in opt.param_groups:
                group["lr"] = schedule(step, args.tower_steps, args.tower_lr)
            with torch.no_grad():
                kept = teacher(enc["pixel_values"], grid_thw=grid).pooler_output.view(len(items), -1, table.shape[-1])
            got = visual(enc["pixel_values"], grid_thw=grid).pooler_output.view(len(items), -1, table.shape[-1])
            scale = (kept ** 2).mean()
            if args.place == "centres":
                slot_loss, keep_loss, record = centre_losses(table, got, kept, [i.spec for i in items], scale)
            else:
                slot_loss, keep_loss, record = slot_losses(table, got, kept, [counts(i.spec) for i in items], scale,
                                                           args.slot_loss)
            loss = slot_loss + keep_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            log({"stage": "tower", "step": step + 1, "slot_loss": slot_loss.item(), "keep_loss": keep_loss.item(),
                 **record})
            bar.set_postfix(slot=f"{slot_loss.item():.3f}", keep=f"{keep_loss.item():.3f}",
                            read=f"{record['slot_accuracy']:.2f}")
            bar.update()


def slot_losses(table, got, kept, true, scale, kind):
    """The slots' loss (mse or ce), the other tokens' keep loss, and how the slots decode."""
    import torch

    from mmrl.scenes.count_slots import SLOTS, decode, slot_targets

    want = slot_targets(table, true)
    slot_loss = slot_ce(table, got[:, :SLOTS], true) if kind == "ce" else \
        ((got[:, :SLOTS] - want) ** 2).mean() / scale \
        + (1 - torch.nn.functional.cosine_similarity(got[:, :SLOTS], want, dim=-1)).mean()
    keep_loss = ((got[:, SLOTS:] - kept[:, SLOTS:]) ** 2).mean() / scale
    pairs = [(r, t) for rs, ts in zip(decode(table, got[:, :SLOTS].detach()), true) for r, t in zip(rs, ts)]
    drawn = [r == t for r, t in pairs if t]  # slots of kinds the scene draws: "none" everywhere scores 0 here
    return slot_loss, keep_loss, {"slot_accuracy": sum(r == t for r, t in pairs) / len(pairs),
                                  "drawn_accuracy": sum(drawn) / max(len(drawn), 1),
                                  "zero_share": sum(not t for _, t in pairs) / len(pairs)}


def centre_losses(table, got, kept, specs, scale):
    """Centre tokens: the starting tower's token plus its marker; every other token: the starting
    tower's. slot_accuracy here is the share of the markers' size the tower has written (1 - the
    residual's mean square over the markers' at the centre tokens)."""
    from mmrl.scenes.count_slots import marker_deltas

    marker = marker_deltas(table, specs, got.shape[1])
    centre = marker.abs().sum(-1) > 0
    error = (got - kept - marker) ** 2
    slot_loss, keep_loss = error[centre].mean() / scale, error[~centre].mean() / scale
    written = 1 - (error[centre].mean() / (marker[centre] ** 2).mean()).item()
    return slot_loss, keep_loss, {"slot_accuracy": written, "centre_share": centre.float().mean().item()}


def main(argv=None) -> int:
    args = parse(argv)
    import torch

    from mmrl.models.backbone import load_policy
    from mmrl.scenes import align, build
    from mmrl.scenes.count_slots import SLOTS, MarkerWriter, SlotWriter
    from mmrl.scenes.dense import MAX_CENTRES
    from mmrl.scenes.items import MAX_COUNT

    reused = None
    if args.codebook:  # checked before the model loads
        try:
            reused = torch.load(args.codebook)
            rows = MAX_COUNT + 1 if args.place == "slots" else MAX_CENTRES
            if not (isinstance(reused, torch.Tensor) and reused.dim() == 3 and reused.shape[:2] == (SLOTS, rows)):
                raise ValueError(f"not a ({SLOTS} kinds, {rows} {'counts' if rows > MAX_CENTRES else 'centres'}, "
                                 f"width) tensor for --place {args.place}")
        except Exception as e:  # noqa: BLE001 - whatever the file is, the user gets this one line
            print(f"error: --codebook {args.codebook}: not a codebook saved by this script "
                  f"({str(e).strip().splitlines()[0]})", file=sys.stderr)
            return 2
    sys.path.insert(0, str(ROOT / "scripts"))
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    model, processor = load_policy("smolvl", dtype="fp32")
    model.eval().requires_grad_(False)
    try:
        start_meta = align.load_vision(model, args.init) if args.init else {}
    except ValueError as e:
        print(f"error: --init {e}", file=sys.stderr)
        return 2
    writer = (SlotWriter if args.place == "slots" else MarkerWriter)(model.model.visual)
    held_out = build.items("heldout", 1, args.limit, ("count",))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started, curves = time.time(), {"codebook": [], "tower": []}
    with open(args.out.with_suffix(".counts.jsonl"), "w") as f:
        def log(record):
            f.write(json.dumps({**record, "s": round(time.time() - started, 1)}) + "\n")
            f.flush()
            if record["stage"] in curves:
                curves[record["stage"]].append(record.get("loss", record.get("slot_accuracy")))

        oracle = {"tower": oracle_accuracy(model, processor, writer, None, held_out)}
        if args.codebook:
            table = reused
        else:
            start, table = train_codebook(model, processor, writer, args, log)
            torch.save(table, args.out.with_suffix(".codebook.pt"))
            oracle["text embeddings written in"] = oracle_accuracy(model, processor, writer, start, held_out)
        oracle["codebook written in (oracle)"] = oracle_accuracy(model, processor, writer, table, held_out)
        train_tower(model, processor, table, args, log)
        oracle["tower after stage 2"] = oracle_accuracy(model, processor, writer, None, held_out)
        log({"stage": "held-out", **oracle})
    align.save_vision(model, args.out, {"script": "scripts/teach_counts.py", "seed": str(args.seed),
                                        "init": str(args.init or "shipped"), "init_steps": start_meta.get("steps", ""),
                                        "place": args.place, "codebook_form": args.codebook_form, "slot_loss": args.slot_loss,
                                        "codebook_steps": str(args.codebook_steps), "codebook_lr": str(args.codebook_lr),
                                        "tower_steps": str(args.tower_steps), "tower_batch": str(args.tower_batch),
                                        "tower_lr": str(args.tower_lr)})
    from pretrain_smolvl import plot
    for stage, ylabel in (("codebook", "count-caption loss (nats/token)"), ("tower", "slots read right (fraction)")):
        if curves[stage]:
            plot(curves[stage], args.out.with_suffix(f".{stage}.png"), ylabel, f"teaching counts: {stage}")
    print(f"| reading | held-out count accuracy % (n={len(held_out)}) |\n|---|---|")
    print("\n".join(f"| {k} | {v:.1f} |" for k, v in oracle.items()))
    print(f"saved {args.out} in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
