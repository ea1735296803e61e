"""DUMP oracles from algorithms.md §15.14 and sampler behaviour."""
from collections import deque

import numpy as np
import pytest

from mmrl.curriculum import DUMPSampler


def _with_stats(stats: dict[str, tuple[int, float]]) -> DUMPSampler:
    s = DUMPSampler(list(stats))
    for name, (n, mu) in stats.items():
        s.seen[name] = n
        s.recent[name] = deque([mu] * min(n, 300), maxlen=300)
    return s


@pytest.mark.parametrize("stats, ucb, p", [
    ({"A": (100, 0.5), "B": (50, 0.3)}, [0.8152016, 0.7435719], [0.6717911, 0.3282089]),
    ({"A": (0, 0.0), "B": (0, 0.0)}, [1.1774100, 1.1774100], [0.5, 0.5]),
    ({"A": (300, 0.2), "B": (10, 0.2), "C": (300, 0.6)}, [0.4064588, 1.2799913, 0.8064588],
     [0.0001594, 0.9911388, 0.0087018]),
])
def test_ucb_and_probabilities_match_the_spec(stats, ucb, p):
    s = _with_stats(stats)
    np.testing.assert_allclose(s.ucb(), ucb, atol=1e-6)
    np.testing.assert_allclose(list(s.probabilities().values()), p, atol=1e-6)


def test_window_mean_of_absolute_advantages():
    s = DUMPSampler(["A"])
    s.update(["A"] * 4, [0.9, -0.3, 0.0, 1.2])
    assert s.ucb()[0] - s.exploration * np.sqrt(2 * np.log(5) / 5) == pytest.approx(0.6)
    assert s.seen["A"] == 4


def test_window_slides():
    s = DUMPSampler(["A"], window=3)
    s.update(["A"] * 5, [5, 5, 1, 1, 1])
    assert list(s.recent["A"]) == [1, 1, 1] and s.seen["A"] == 5


def test_sampling_follows_the_probabilities_and_stays_within_a_source():
    sources = ["easy"] * 5 + ["learnable"] * 5
    s = _with_stats({"easy": (300, 0.0), "learnable": (300, 0.8)})
    s.members = {"easy": list(range(5)), "learnable": list(range(5, 10))}
    picks = s.next_indices(2000)
    frac = sum(sources[i] == "learnable" for i in picks) / len(picks)
    assert frac == pytest.approx(s.probabilities()["learnable"], abs=0.03)


def test_state_round_trip_reproduces_the_next_draws():
    s = DUMPSampler(["a", "b", "a", "c"], seed=3)
    s.update(["a", "b"], [1.0, 0.1])
    state = s.state_dict()
    expected = s.next_indices(16)
    t = DUMPSampler(["a", "b", "a", "c"], seed=99)
    t.load_state_dict(state)
    assert t.next_indices(16) == expected
    assert t.probabilities() == s.probabilities()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="tau"):
        DUMPSampler(["a"], tau=0)
