"""Rollout throughput on SmolLM2: the colocated vLLM engine vs transformers generate, side by side
in one run (each engine in its own process so peak memory is its own), GSM8K prompts.

    .venv/bin/python bench/rollout_engines.py [--prompts 8] [--n 8] [--max-new-tokens 64] [--dtype auto]
        [--threads 1] [--model smollm2-135m-instruct]

Prints engine start-up time, generated tokens per second (warm, after one small warm-up batch),
peak RSS, and the vLLM/HF ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gsm8k" / "test.jsonl"


def one(args) -> dict:
    from mmrl.rollout import GenRequest, SamplingConfig, build_engine
    from mmrl.rollout.threads import set_threads

    set_threads(args.threads)
    start = time.perf_counter()
    engine = build_engine(args.one, args.model, dtype=args.dtype)
    startup = time.perf_counter() - start
    tok = engine.tokenizer
    questions = [json.loads(l)["question"] for l in DATA.read_text().splitlines()[:args.prompts]]
    requests = [GenRequest(tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                                   add_generation_prompt=True)) for q in questions]
    engine.generate(requests[:1], SamplingConfig(n=2, max_new_tokens=8, seed=0))  # warm-up
    sampling = SamplingConfig(n=args.n, temperature=1.0, max_new_tokens=args.max_new_tokens, seed=1)
    start = time.perf_counter()
    outputs = engine.generate(requests, sampling)
    seconds = time.perf_counter() - start
    tokens = sum(len(c.token_ids) for group in outputs for c in group)
    return {"startup_s": startup, "generate_s": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--dtype", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--one", choices=["vllm", "hf"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one(args)))
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)}
    results = {}
    for engine in ("vllm", "hf"):
        cmd = [sys.executable, __file__, "--one", engine] + [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
                                                               if k != "one"]
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"{engine} run failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        results[engine] = json.loads(line[7:])
    print(f"{args.prompts} prompts x {args.n} samples x <= {args.max_new_tokens} tokens, dtype {args.dtype}, "
          f"{args.threads} thread(s)")
    print(f"{'engine':8}{'start s':>10}{'gen s':>10}{'tokens':>9}{'tok/s':>10}{'peak RSS GiB':>14}")
    for name, r in results.items():
        print(f"{name:8}{r['startup_s']:10.1f}{r['generate_s']:10.1f}{r['tokens']:9d}{r['tokens_per_s']:10.1f}"
              f"{r['peak_rss_gib']:14.2f}")
    v, h = results["vllm"], results["hf"]
    print(f"ratio vLLM/HF: tokens/s {v['tokens_per_s'] / h['tokens_per_s']:.2f}x, "
          f"peak RSS {v['peak_rss_gib'] / h['peak_rss_gib']:.2f}x")


if __name__ == "__main__":
    main()
