#!/usr/bin/env python
"""The seeing report: per skill, smolvl's held-out accuracy with the real image and with a blank one.

    nice -n 10 python scripts/seeing_report.py --weights runs/align/vision.safetensors --out seeing.json
    nice -n 10 python scripts/seeing_report.py --limit 2          # the random tower (a quick check)

Prints a markdown table (docs/scenes.md explains it) and writes the numbers as JSON with --out."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smolvl", help="built-in name or model folder")
    p.add_argument("--weights", type=Path, help="vision weights from scripts/pretrain_smolvl.py to load first")
    p.add_argument("--data", type=Path, default=ROOT / "data" / "scenes", help="a scenes folder (items.jsonl)")
    p.add_argument("--limit", type=int, default=None, help="at most this many items per skill")
    p.add_argument("--skills", default="", help="comma-separated subset of the report's skills (default: all)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, help="write the result as JSON here")
    args = p.parse_args(argv)
    from mmrl.scenes.seeing import SKILLS
    skills = tuple(s for s in args.skills.split(",") if s) or SKILLS
    if set(skills) - set(SKILLS):
        print(f"error: --skills: unknown skill {sorted(set(skills) - set(SKILLS))[0]!r} (known: {', '.join(SKILLS)})",
              file=sys.stderr)
        return 2
    for path, what in ((args.weights, "--weights"), (args.data / "items.jsonl", "--data")):
        if path is not None and not path.is_file():
            print(f"error: {what}: no file {path}", file=sys.stderr)
            return 2
    import torch
    from tqdm import tqdm

    from mmrl.models.backbone import load_policy
    from mmrl.scenes import align, seeing

    torch.set_num_threads(args.threads)
    model, processor = load_policy(args.model, dtype="fp32")
    model.eval()
    meta = {}
    if args.weights:
        try:
            meta = align.load_vision(model, args.weights)
        except ValueError as e:
            print(f"error: --weights: {e}", file=sys.stderr)
            return 2
    items = seeing.probes(args.data, args.limit, skills)
    with tqdm(total=len(items), desc="seeing", unit="item") as bar:
        result = seeing.run(model, processor, items, bar.update)
    print(seeing.markdown(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"model": args.model, "weights": str(args.weights or ""), "weights_meta": meta,
                                        "skills": result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
