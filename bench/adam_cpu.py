#!/usr/bin/env python
"""One AdamW step on CPU over SmolLM2-135M-sized fp32 parameters (random gradients): torch's
foreach and fused AdamW against DeepSpeed's C++ Adam (FusedAdam on the CPU accelerator, which
compiles on first use). mmrl's single-CPU-rank engine uses torch's fused one (mmrl/train/engine.py).

    DS_ACCELERATOR=cpu python bench/adam_cpu.py      # run alone: it is memory-bound
"""
import os
import time

import torch

SHAPES = [576 * 49152] + [576 * 576 * 4 + 576 * 1536 * 3] * 30  # embeddings + 30 layers' matrices


def ms_per_step(opt, repeats=5) -> float:
    opt.step()  # state allocated outside the timing
    start = time.perf_counter()
    for _ in range(repeats):
        opt.step()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    from deepspeed.ops.adam import FusedAdam

    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(n)) for n in SHAPES]
    for p in params:
        p.grad = torch.randn_like(p)
    print(f"{sum(p.numel() for p in params) / 1e6:.0f} M params, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.2f}")
    for name, make in (("torch AdamW foreach", lambda: torch.optim.AdamW(params, lr=1e-5, foreach=True)),
                       ("torch AdamW fused", lambda: torch.optim.AdamW(params, lr=1e-5, fused=True)),
                       ("DeepSpeed FusedAdam (C++, CPU)", lambda: FusedAdam(params, lr=1e-5, adam_w_mode=True))):
        print(f"{name:32s} {ms_per_step(make()):6.0f} ms/step")


if __name__ == "__main__":
    main()
