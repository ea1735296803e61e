"""PAPO's masked-image log-probs of one step's batch on smolvl, through the trainer's own
`Updater.no_grad_logprobs`, with `training.share_prompt` on (each group's prompt runs once) and off
(one prompt copy per response), timed in turn (A B A B ...), with the largest difference between the
two and the load average.

    .venv/bin/python bench/papo_masked.py [--groups 8] [--n 8] [--repeats 3]

The batch is recipes/scenes_count_papo.yaml's: count scenes (224x224, 64 image tokens), responses
of 24 random tokens, micro-batches of 4096 tokens, fp32, no gradient (PAPO's default: computed once
per step with the pre-update weights).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--groups", type=int, default=8)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import torch

    from mmrl.algorithms import build_algorithm
    from mmrl.algorithms.papo import random_patch_blackening
    from mmrl.data.chat import chat_text
    from mmrl.models.backbone import encode_prompt, load_policy
    from mmrl.recipe import Training
    from mmrl.scenes import build
    from mmrl.train.batch import Batch
    from mmrl.train.records import Group, Response
    from mmrl.train.update import Models, Updater

    torch.set_num_threads(args.threads)
    model, proc = load_policy("smolvl", "fp32")
    rng, groups = random.Random(0), []
    for key, item in enumerate(build.items("train", 0, args.groups, ("count",))):
        text = chat_text(proc, item.question, 1)
        responses = [Response([rng.randrange(100, 40000) for _ in range(24)], [0.0] * 24, "", "stop")
                     for _ in range(args.n)]
        group = Group(key, {}, encode_prompt(proc, text, [item.image]), [item.image], responses=responses)
        group.masked_prompt = encode_prompt(proc, text, [random_patch_blackening(item.image, rng=rng)])
        groups.append(group)
    batch = Batch(groups, proc.tokenizer.pad_token_id)

    papo = build_algorithm("papo", max_new_tokens=24)
    updaters = {name: Updater(Models(None, None), papo, Training(share_prompt=share, micro_batch_tokens=4096), 1.0,
                              proc.tokenizer.pad_token_id) for name, share in (("shared", True), ("copies", False))}
    times, result = {name: [] for name in updaters}, {}
    for _ in range(args.repeats):
        for name, updater in updaters.items():
            start = time.perf_counter()
            result[name] = updater.no_grad_logprobs(model, batch, masked=True)
            times[name].append(time.perf_counter() - start)
    gap = (result["shared"] - result["copies"]).abs().max().item()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.groups} groups x {args.n} responses, masked images, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"shared rows {med['shared']:.2f} s, one prompt copy per response {med['copies']:.2f} s "
          f"(medians of {args.repeats}): {med['copies'] / med['shared']:.2f}x; largest log-prob difference {gap:.1e}")


if __name__ == "__main__":
    main()
