#!/usr/bin/env python
"""How much does a model's click depend on what it is asked to click, and how much on the screen?

For an n x n grid of train-split GUI screens and click instructions (each screen asked every
instruction), the next-token distribution where the click's first digit goes (after the recipe's
answer opening) is compared across instructions on one screen and across screens for one
instruction (mean Jensen-Shannon divergence, nats). A policy that RL can teach to click the asked
element must first let the instruction move that distribution (docs/scenes.md).

    python scripts/click_sensitivity.py --model smolvl --n 6              # about 1 min, 2 AVX2 cores
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
OPENING = '<answer>{"action": "click", "point": ['  # recipes/scenes_gui.yaml's data.response_prefix


def instruction_last(question: str) -> str:
    """'Click the X. Answer with ...' -> 'Answer with ... Click the X.'"""
    click, rest = question.split(". ", 1)
    return f"{rest} {click}."


def js(p, q) -> float:
    m = (0.5 * (p.exp() + q.exp())).log()
    return (0.5 * ((p.exp() * (p - m)).sum() + (q.exp() * (q - m)).sum())).item()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smolvl", help="built-in name or a run's exported model folder")
    p.add_argument("--n", type=int, default=6, help="screens and instructions (n x n prompts)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if args.n < 2:
        p.error("--n must be >= 2")
    import torch

    from mmrl.data.chat import chat_text
    from mmrl.models import encode_prompt
    from mmrl.models.backbone import load_policy
    from mmrl.scenes import build

    torch.set_num_threads(args.threads)
    model, processor = load_policy(args.model, dtype="fp32")
    items = build.items("train", 0, args.n, ("gui",))

    def first_digit(item, question):
        enc = encode_prompt(processor, chat_text(processor, question, 1) + OPENING, [item.image])
        with torch.no_grad():
            return torch.log_softmax(model(**enc).logits[0, -1].float(), -1)

    print("| instruction | across instructions, one screen | across screens, one instruction |\n|---|---|---|")
    for order, phrase in (("first (as the recipes ask)", str), ("last", instruction_last)):
        grid = {(i, j): first_digit(items[i], phrase(items[j].question)) for i in range(args.n) for j in range(args.n)}
        pairs = list(itertools.combinations(range(args.n), 2))
        asked = sum(js(grid[i, a], grid[i, b]) for i in range(args.n) for a, b in pairs) / (args.n * len(pairs))
        seen = sum(js(grid[a, j], grid[b, j]) for j in range(args.n) for a, b in pairs) / (args.n * len(pairs))
        print(f"| {order} | {asked:.4f} | {seen:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
