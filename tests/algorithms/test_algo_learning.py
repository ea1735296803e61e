"""End to end through the trainer-facing interface: every algorithm, fed by the toy verifiable task
of bench/algorithms_toy.py (advantages -> 2 mini-batches x 2 micro-batches -> AdamW), must raise
the toy policy's reward. Deterministic (fixed seeds), about 0.5 s per algorithm."""
import importlib.util
from pathlib import Path

import pytest

from mmrl.algorithms import names

spec = importlib.util.spec_from_file_location(
    "algorithms_toy", Path(__file__).resolve().parents[2] / "bench" / "algorithms_toy.py")
toy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(toy)


@pytest.mark.parametrize("name", names())
def test_every_algorithm_learns_the_toy_task(name):
    before, after, _ = toy.train(name, steps=40)
    assert after > before + 0.25, (name, before, after)


CORRECTIONS = [{"mode": "none"}, {"mode": "token_tis"}, {"mode": "seq_tis"}, {"mode": "token_mis"},
               {"mode": "seq_mis"}, {"mode": "seq_geo_rs", "geo_band": [0.5, 2.0]}]


@pytest.mark.parametrize("correction", CORRECTIONS, ids=lambda c: c["mode"])
@pytest.mark.parametrize("name", ["grpo", "gmpo"])
def test_every_rollout_correction_learns_under_a_rollout_engine_gap(name, correction):
    """The toy's rollout engine samples from perturbed logits (gap 0.5), so rollout_logp differs
    from the trainer's log-probs; with each correction (through algo.loss_scale and the
    micro-batches) the policy still learns. (The default geo band [0.999, 1.001] rejects nearly
    every sequence at this gap, by design: it is meant for a bf16-sized mismatch.)"""
    before, after, _ = toy.train(name, steps=40, correction=correction, gap=0.5)
    assert after > before + 0.25, (name, correction, before, after)
