"""DUMP moves its sampling to the learnable source, then away once it is learned."""
import numpy as np

from mmrl.curriculum.dump_simulation import simulate


def test_dump_prefers_the_learnable_source_while_it_is_learnable():
    h = simulate(steps=150)
    early = slice(10, 40)
    assert np.mean(h["learnable"][early]) > 0.8
    assert np.mean(h["solved"][early]) < 0.1 and np.mean(h["hopeless"][early]) < 0.1
    # once learned (success ~0.98) its |A| collapses and the sampler spreads out again
    assert h["learnable_success"][-1] > 0.95
    assert np.mean(h["learnable"][-20:]) < 0.6
