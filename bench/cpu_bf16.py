"""bf16 against float32 matmuls on this CPU: forward and backward of the linear layers of
SmolLM2-135M's shapes (2048 tokens). On a CPU without avx512_bf16/amx_bf16, torch runs bf16 on a
reference kernel; this shows how much slower, so a recipe that names bf16 there knows its cost.

    python bench/cpu_bf16.py --threads 1
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mmrl.models.backbone import has_bf16  # noqa: E402

SHAPES = [(2048, 576, 576), (2048, 576, 1536), (2048, 1536, 576)]  # tokens x in -> out: attention, MLP up, MLP down


def timed(m: int, k: int, n: int, dtype: torch.dtype, repeats: int) -> tuple[float, float]:
    """Median seconds of y = x @ w.T forward and its backward, after one warm-up."""
    x = torch.randn(m, k, dtype=dtype, requires_grad=True)
    w = torch.randn(n, k, dtype=dtype, requires_grad=True)
    fwd, bwd = [], []
    for i in range(repeats + 1):
        t = time.perf_counter()
        y = x @ w.t()
        t1 = time.perf_counter()
        y.backward(torch.ones_like(y))
        if i:  # the first pass warms the kernels up
            fwd.append(t1 - t)
            bwd.append(time.perf_counter() - t1)
    return sorted(fwd)[len(fwd) // 2], sorted(bwd)[len(bwd) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"bf16 native on this machine: {has_bf16()}; {args.threads} thread(s); load average {os.getloadavg()[0]:.2f}")
    for m, k, n in SHAPES:
        f32, b16 = timed(m, k, n, torch.float32, args.repeats), timed(m, k, n, torch.bfloat16, args.repeats)
        print(f"[{m}x{k}] @ [{k}x{n}]: float32 {f32[0] * 1e3:.0f} / {f32[1] * 1e3:.0f} ms, bf16 {b16[0] * 1e3:.0f} / "
              f"{b16[1] * 1e3:.0f} ms (forward / backward): bf16 {b16[0] / f32[0]:.1f}x / {b16[1] / f32[1]:.1f}x")


if __name__ == "__main__":
    main()
