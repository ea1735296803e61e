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
