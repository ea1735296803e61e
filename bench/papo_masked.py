"""PAPO's masked-image log-probs of one step's batch on smolvl, each group's prompt run once (shared
rows) against one prompt copy per response, timed in turn (A B A B ...), with the largest
difference between the two and the load average.

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

    from mmrl.algorithms.papo import random_patch_blackening
    from mmrl.data.chat import chat_text
    from mmrl.models import token_logprobs
    from mmrl.models.backbone import encode_prompt, load_policy
    from mmrl.models.logprobs import packed_logprobs
    from mmrl.scenes import build
    from mmrl.train.batch import Batch
    from mmrl.train.records import Group, Response

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

    def shared():
        out = torch.zeros(len(batch), batch.T)
        for micro in batch.shared_micro_batches(4096):
            out[[i for row in micro for i in row]] = packed_logprobs(model, batch.packed(micro, True),
                                                                     (sum(map(len, micro)), batch.T))
        return out

    def copies():
        out = torch.zeros(len(batch), batch.T)
        for micro in batch.micro_batches(4096):
            x = batch.inputs(micro, True)
            out[micro] = batch.to_response(micro, token_logprobs(model, x["input_ids"], x["attention_mask"],
                                                                 x["completion_mask"], x["mm_inputs"]))
        return out

    times = {"shared": [], "copies": []}
    with torch.no_grad():
        for _ in range(args.repeats):
            for name, run in (("shared", shared), ("copies", copies)):
                start = time.perf_counter()
                result = run()
                times[name].append(time.perf_counter() - start)
                if name == "shared":
                    a = result
        gap = (a - result).abs().max().item()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.groups} groups x {args.n} responses, masked images, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"shared rows {med['shared']:.2f} s, one prompt copy per response {med['copies']:.2f} s "
          f"(medians of {args.repeats}): {med['copies'] / med['shared']:.2f}x; largest log-prob difference {gap:.1e}")


if __name__ == "__main__":
    main()
