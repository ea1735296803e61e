#!/usr/bin/env python
"""Align smolvl's vision tower to its language model (LLaVA stage 1) on captions of train-split scenes.

The language model (SmolLM2-135M-Instruct) is frozen, so smolvl's text logits stay SmolLM2's; the
vision tower and its merger (4.6M parameters) learn to describe rendered scenes: plain captions of
the shapes, text and GUI screens, never the RL question formats. Deterministic for a given seed and
thread count. Writes the vision weights (bf16 safetensors, ~9 MB), a loss log and a loss-curve PNG.

    nice -n 10 python scripts/pretrain_smolvl.py --out runs/align/vision.safetensors          # 180 steps x 3.2 s (bf16, 2 quiet cores)
    nice -n 10 python scripts/pretrain_smolvl.py --out /tmp/v.safetensors --max-steps 3 --batch-size 2
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="vision weights file (.safetensors)")
    p.add_argument("--steps", type=int, default=180,
                   help="optimizer steps of the full schedule (batch 8: 3.2 s/step in bf16 on 2 quiet cores)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (smoke runs)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW, cosine, 5%% warm-up)")
    p.add_argument("--seed", type=int, default=0, help="train-split seed and torch seed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skills", default="", help="comma-separated scene skills (default: all, GUI included); "
                   "'single' (one shape alone, alignment only) is a first curriculum stage")
    p.add_argument("--init", type=Path, help="start from these vision weights (a previous stage's output)")
    p.add_argument("--captions", choices=["plain", "facts"], default="plain",
                   help="plain: a scene description; facts: one fact per sentence in an answer's words "
                        "(\"There are 3 stars in the image. The circle is red.\")")
    p.add_argument("--dense-steps", type=int, default=0,
                   help="first train the tower alone for this many steps on per-token colour, kind and centre "
                        "labels of shape scenes (mmrl/scenes/dense.py), through a head dropped afterwards")
    p.add_argument("--dense-batch", type=int, default=32, help="images per dense step")
    p.add_argument("--dense-weight", type=float, default=0.0,
                   help="keep the per-token loss during captioning, at this weight (0: captions alone)")
    p.add_argument("--model", default="smolvl-random",
                   help="the VLM to align (built-in name or folder; smolvl-random: the tower as initialised)")
    p.add_argument("--dtype", choices=["auto", "fp32"], default="auto",
                   help="auto: the frozen language model in bf16 and bf16 autocast where the CPU has bf16 "
                        "(the trained tower keeps fp32 weights); fp32: everything in fp32")
    args = p.parse_args(argv)
    if args.out.suffix != ".safetensors":
        p.error(f"--out {args.out}: must end in .safetensors")
    if args.init is not None and not args.init.is_file():
        p.error(f"--init {args.init}: no such file")
    if min(args.steps, args.batch_size, args.threads, args.max_steps or 1, args.dense_batch) < 1 or not args.lr > 0:
        p.error("--steps, --max-steps, --batch-size, --dense-batch and --threads must be >= 1, --lr > 0")
    if args.dense_steps < 0 or args.dense_weight < 0:
        p.error("--dense-steps and --dense-weight must be >= 0")
    return args


def schedule(step: int, total: int, peak: float) -> float:
    warm = max(1, total // 20)
    if step < warm:
        return peak * (step + 1) / warm
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def plot(losses: list[float], path: Path, ylabel: str = "caption loss (nats/token)",
         title: str = "smolvl alignment") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, len(losses) + 1), losses, lw=0.8, alpha=0.5, label="step")
    k = max(1, len(losses) // 20)
    smooth = [sum(losses[max(0, i - k + 1):i + 1]) / len(losses[max(0, i - k + 1):i + 1]) for i in range(len(losses))]
    ax.plot(range(1, len(losses) + 1), smooth, lw=1.5, label=f"mean of {k}")
    ax.set_xlabel("step"), ax.set_ylabel(ylabel), ax.set_title(title)
    ax.legend(), fig.tight_layout(), fig.savefig(path, dpi=100), plt.close(fig)


def dense_stage(model, processor, head, opt, params, args, autocast) -> list[float]:
    """The tower alone on per-token labels of shape scenes (no language model in the loop)."""
    import torch
    from tqdm import tqdm

    from mmrl.scenes import align, build, dense

    data = build.stream("train", args.seed, dense.SKILLS)
    losses, started = [], time.time()
    path = args.out.with_suffix(".dense.jsonl")
    with open(path, "w") as log, tqdm(total=args.dense_steps, desc="dense", unit="step") as bar:
        for step in range(args.dense_steps):
            items = [next(data) for _ in range(args.dense_batch)]
            enc = processor.image_processor(images=[i.image for i in items], return_tensors="pt")
            grid = enc["image_grid_thw"]
            wanted = dense.targets([i.spec for i in items], (grid.prod(-1) // 4).tolist())
            for group in opt.param_groups:
                group["lr"] = schedule(step, args.dense_steps, args.lr)
            with autocast:
                features = model.model.visual(enc["pixel_values"], grid_thw=grid).pooler_output
                loss, accuracy = dense.loss_and_accuracy(head, features, wanted)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(loss.item())
            log.write(json.dumps({"step": step + 1, "loss": losses[-1], "lr": opt.param_groups[0]["lr"],
                                  **{f"accuracy/{k}": round(v, 4) for k, v in accuracy.items()},
                                  "s": round(time.time() - started, 2)}) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{losses[-1]:.3f}", **{k: f"{v:.2f}" for k, v in accuracy.items()})
            bar.update()
    plot(losses, args.out.with_suffix(".dense.png"), "per-token loss (nats)", "smolvl tower on scene labels")
    align.save_vision(model, args.out.with_suffix(".dense.safetensors"),  # the tower before it meets the LM
                      {"script": "scripts/pretrain_smolvl.py", "stage": "dense", "seed": str(args.seed),
                       "dense_steps": str(args.dense_steps), "dense_batch": str(args.dense_batch), "lr": str(args.lr)})
    return losses


def main(argv=None) -> int:
    args = parse(argv)
    import torch
    from tqdm import tqdm

    from mmrl.models.backbone import load_policy, torch_dtype
    from mmrl.scenes import align, build, dense, gui
    from mmrl.scenes.items import ALIGN_ONLY_SKILLS

    skills = tuple(s for s in args.skills.split(",") if s) or build.SKILLS
    known = (*build.SKILLS, *ALIGN_ONLY_SKILLS)
    unknown = [s for s in skills if s not in known]
    if unknown:
        print(f"error: --skills: unknown skill {unknown[0]!r} (known: {', '.join(known)})", file=sys.stderr)
        return 2
    data, rng = build.stream("train", args.seed, skills), random.Random(args.seed)
    try:
        first = next(data)  # the first chunk renders the GUI screens: a missing browser shows here
    except gui.BrowserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    data = itertools.chain([first], data)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model, processor = load_policy(args.model, dtype="fp32")
    try:
        start_meta = align.load_vision(model, args.init) if args.init else {}
    except ValueError as e:
        print(f"error: --init {e}", file=sys.stderr)
        return 2
    model.requires_grad_(False)
    model.model.visual.requires_grad_(True)   # vision tower + merger; the language model stays frozen
    low = torch_dtype(args.dtype)
    if low != torch.float32:  # the frozen model is only read: store it in bf16 (no cast per forward)
        model.model.language_model.to(low)
    autocast = torch.autocast("cpu", dtype=low, enabled=low != torch.float32)
    model.train()
    head = dense.make_head(model.config.vision_config.out_hidden_size) if args.dense_steps or args.dense_weight else None
    if args.dense_weight:  # the caption forward's merger output, for the per-token loss beside it
        features = []
        model.model.visual.register_forward_hook(lambda module, inputs, output: features.__setitem__(
            slice(None), [output.pooler_output]))
    params = [p for p in model.parameters() if p.requires_grad] + (list(head.parameters()) if head else [])
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.dense_steps:
        dense_stage(model, processor, head, opt, params, args, autocast)
    stop = min(args.steps, args.max_steps or args.steps)
    log_path, png_path = args.out.with_suffix(".loss.jsonl"), args.out.with_suffix(".loss.png")
    losses, started, cpu0 = [], time.time(), time.process_time()
    with open(log_path, "w") as log, tqdm(total=stop, desc="align", unit="step") as bar:
        for step in range(stop):
            batch = [(item, *align.example(item, rng, args.captions)) for item in (next(data) for _ in range(args.batch_size))]
            inputs = align.collate(processor, batch)
            for group in opt.param_groups:
                group["lr"] = schedule(step, args.steps, args.lr)
            with autocast:
                loss = caption_loss = model(**inputs).loss
                token_loss = None
                if args.dense_weight:
                    grid = inputs["image_grid_thw"]
                    wanted = dense.targets([item.spec for item, *_ in batch], (grid.prod(-1) // 4).tolist())
                    token_loss, _ = dense.loss_and_accuracy(head, features[-1], wanted)
                    loss = caption_loss + args.dense_weight * token_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(caption_loss.item())
            log.write(json.dumps({"step": step + 1, "loss": losses[-1], "grad_norm": float(norm),
                                  **({"token_loss": token_loss.item()} if token_loss is not None else {}),
                                  "lr": opt.param_groups[0]["lr"], "s": round(time.time() - started, 2),
                                  "cpu_s": round(time.process_time() - cpu0, 2)}) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            bar.update()
            if (step + 1) % 20 == 0 or step + 1 == stop:  # a run cut short still leaves its weights
                plot(losses, png_path)
                meta = {"script": "scripts/pretrain_smolvl.py", "seed": str(args.seed), "steps": str(step + 1),
                        "schedule_steps": str(args.steps), "batch_size": str(args.batch_size), "lr": str(args.lr),
                        "skills": ",".join(skills), "captions": args.captions, "final_loss": f"{losses[-1]:.4f}", "dtype": str(low).removeprefix("torch."),
                        "threads": str(args.threads), "init": str(args.init or ""),
                        "init_steps": start_meta.get("steps", "0"),
                        "dense_steps": str(args.dense_steps), "dense_batch": str(args.dense_batch),
                        "dense_weight": str(args.dense_weight)}
                align.save_vision(model, args.out, meta)
    elapsed = time.time() - started
    print(f"saved {args.out} ({args.out.stat().st_size / 1e6:.1f} MB); {stop} steps in {elapsed:.0f} s "
          f"({elapsed / stop:.2f} s/step); loss {losses[0]:.3f} -> {losses[-1]:.3f}; curve {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
