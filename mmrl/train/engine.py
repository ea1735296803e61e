"""The DeepSpeed engines: the policy (ZeRO-2/3, bf16 where the hardware has it, gradient
checkpointing, AdamW, warmup) and, when the algorithm needs one, a frozen reference model."""
from __future__ import annotations

import contextlib

import torch


def zero_stage(training, dtype: torch.dtype) -> int:
    """training.zero_stage, with auto resolved. One rank: stage 0 in float32 (no flat parameter copy,
    no gradient buckets; ZeRO-2's steps: tests/train/test_zero_stages.py); stage 1 in bf16, which
    DeepSpeed runs as its BF16 optimizer: fp32 master weights, micro-batch gradients added in fp32
    and each bf16 gradient freed as soon as it is added (stage 0 would add them in bf16: docs/trl.md).
    Several ranks: ZeRO-2, which shards the gradients and optimizer states."""
    if training.zero_stage != "auto":
        return training.zero_stage
    if training.ranks > 1:
        return 2
    return 0 if dtype == torch.float32 else 1


def ds_config(recipe, dtype: torch.dtype, with_optimizer: bool = True) -> dict:
    t, stage = recipe.training, zero_stage(recipe.training, dtype)
    cfg = {
        "train_micro_batch_size_per_gpu": 1,
        "gradient_accumulation_steps": 1,  # micro-batches are token-budgeted: boundaries are set by hand
        "gradient_clipping": t.grad_clip,
        "zero_optimization": {"stage": stage},
        # immediate_grad_update: the BF16 optimizer frees each bf16 gradient once added to the fp32 one
        "bf16": {"enabled": dtype == torch.bfloat16, "immediate_grad_update": True},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if with_optimizer:
        if dtype == torch.bfloat16 and stage == 1:
            cfg["data_types"] = {"grad_accum_dtype": "fp32"}  # stage 1 + fp32 accumulation = the BF16 optimizer
        cfg["optimizer"] = {"type": "AdamW", "params": {"lr": t.lr, "weight_decay": t.weight_decay,
                                                        "betas": [0.9, 0.999], "eps": 1e-8}}
        if not torch.cuda.is_available():
            # torch's fused CPU AdamW: within 10% of DeepSpeed's C++ Adam (bench/adam_cpu.py), nothing
            # to compile; DeepSpeed's is a ~75 s C++ build on each new machine's first run
            cfg["optimizer"]["params"].update(torch_adam=True, fused=True)
        cfg["scheduler"] = {"type": "WarmupLR", "params": {"warmup_min_lr": 0.0 if t.warmup_steps else t.lr,
                                                           "warmup_max_lr": t.lr,
                                                           "warmup_num_steps": max(t.warmup_steps, 1),
                                                           "warmup_type": "linear"}}
    elif stage != 3:
        cfg["zero_optimization"] = {"stage": 0}  # a frozen copy: only ZeRO-3 sharding helps it
    return cfg


def build_policy(recipe, model, dtype):
    import deepspeed

    params = [p for p in model.parameters() if p.requires_grad]
    engine, *_ = deepspeed.initialize(model=model, model_parameters=params, config=ds_config(recipe, dtype))
    return engine


def build_reference(recipe, model, dtype):
    import deepspeed

    model.eval().requires_grad_(False)
    engine, *_ = deepspeed.initialize(model=model, config=ds_config(recipe, dtype, with_optimizer=False))
    engine.eval()
    return engine


def gathered(module, zero_stage: int):
    """Context in which every parameter of `module` is whole on this rank (ZeRO-3 shards them)."""
    if zero_stage != 3:
        return contextlib.nullcontext()
    import deepspeed
    return deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None)


def full_named_parameters(module, zero_stage: int) -> list[tuple[str, torch.Tensor]]:
    """HF-named whole parameters (copies under ZeRO-3), for weight sync and export."""
    with gathered(module, zero_stage):
        return [(name, p.detach().clone() if zero_stage == 3 else p.detach())
                for name, p in module.named_parameters()]
