"""The rollout-vs-trainer log-prob gap of the vLLM engine, per dtype: fresh weights, then after one
AdamW step without a sync (stale) and with one (synced), plus the time of a sync. The fp32 rows show
exactness; the bf16 rows are the noise floor to expect in training logs.

    .venv/bin/python bench/rollout_gap.py [--model smollm2-135m-instruct|smolvl] [--dtypes fp32,bf16]

Prompts: GSM8K questions (SmolLM2) or Geometry3K diagrams with their questions (smolvl).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def requests_for(model_name, processor):
    from PIL import Image

    from mmrl.rollout import GenRequest

    if model_name != "smolvl":
        rows = [json.loads(l) for l in (DATA / "gsm8k" / "test.jsonl").read_text().splitlines()[:4]]
        return [GenRequest(processor.apply_chat_template([{"role": "user", "content": r["question"]}],
                                                         tokenize=False, add_generation_prompt=True)) for r in rows]
    out = []
    for i in (11, 12, 13, 15):
        folder = DATA / "geometry3k" / "data_examples" / str(i)
        text = json.loads((folder / "data.json").read_text())["problem_text"]
        prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}],
                                               tokenize=False, add_generation_prompt=True)
        out.append(GenRequest(prompt, [Image.open(folder / "img_diagram.png").convert("RGB")]))
    return out


def measure(model_name: str, dtype: str) -> dict:
    import torch

    from mmrl.models import encode_prompt, load_policy, sequence_batch, token_logprobs
    from mmrl.rollout import SamplingConfig, build_engine
    from mmrl.rollout.gap import rollout_gap

    engine = build_engine("vllm", model_name, dtype=dtype)
    model, processor = load_policy(model_name, dtype)
    requests = requests_for(model_name, processor)
    sampling = SamplingConfig(n=4, temperature=1.0, max_new_tokens=32, seed=0)
    outputs = engine.generate(requests, sampling)
    row = {"fresh": rollout_gap(model, processor, requests, outputs, 1.0)}
    prompts = [encode_prompt(processor, r.prompt, r.images) for r, g in zip(requests, outputs) for _ in g]
    b = sequence_batch(prompts, [c.token_ids for g in outputs for c in g], pad_id=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    (-token_logprobs(model, b["input_ids"], b["attention_mask"], b["completion_mask"], b["mm_inputs"]).sum()).backward()
    opt.step()
    row["stale"] = rollout_gap(model, processor, requests, engine.generate(requests, sampling), 1.0)
    start = time.perf_counter()
    engine.sync_weights(model.named_parameters())
    row["sync_s"] = time.perf_counter() - start
    row["synced"] = rollout_gap(model, processor, requests, engine.generate(requests, sampling), 1.0)
    engine.close()
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--dtypes", default="fp32,bf16")
    args = p.parse_args()
    rows = {dtype: measure(args.model, dtype) for dtype in args.dtypes.split(",")}
    print(f"{args.model}: |trainer - vLLM| log-prob of sampled tokens, nats (mean / max)")
    print(f"{'dtype':6}{'fresh':>22}{'stale (no sync)':>22}{'synced':>22}{'sync s':>9}")
    for dtype, r in rows.items():
        cells = [f"{r[k]['logprob_gap_mean']:.1e} / {r[k]['logprob_gap_max']:.1e}" for k in ("fresh", "stale", "synced")]
        print(f"{dtype:6}" + "".join(f"{c:>22}" for c in cells) + f"{r['sync_s']:9.2f}")


if __name__ == "__main__":
    main()
