"""AEPO adaptive exploration reward: algorithms.md §15.12 oracles and verifiers.md G10."""
import json

import pytest

from mmrl_verifiers import verify

BOX = [10, 10, 20, 20]


def answer(points, think="several candidates") -> str:
    return f"<think>{think}</think>" + json.dumps([{"point_2d": list(p)} for p in points])


def aepo(response, gold=BOX, **options):
    options.setdefault("frame", "abs")
    return verify("aepo", response, gold, **options)


ORACLES = [
    ([(15, 15)], 2.0),
    ([(0, 0), (15, 15), (40, 5)], 1.4082483),
    ([(15, 15), (0, 0), (40, 5)], 1.5773503),
    ([(0, 0), (30, 1), (5, 40), (50, 50)], 0.75),
    ([(0, 0), (30, 1)], 0.5),
    ([(0, 0), (15, 15), (30, 30)], -1.0),
    ([], 0.0),
]


@pytest.mark.parametrize("points, reward", ORACLES)
def test_15_12_oracles(points, reward):
    assert aepo(answer(points)).score == pytest.approx(reward, abs=1e-7)


@pytest.mark.parametrize("response", [
    '[{"point_2d": [15, 15]}]',                          # no think block
    '<think></think>[{"point_2d": [15, 15]}]',           # empty think
    ' <think>x</think>[{"point_2d": [15, 15]}]',         # InfiGUI: must start with <think>
    "<think>x</think><think>y</think>[]",
    '<think>x</think>[{"point_2d": [15, 15]}',           # unbalanced
    '<think>x</think>[{"point": [15, 15]}]',             # wrong key
    '<think>x</think>[{"point_2d": [15, 15, 3]}]',
    "<think>x</think>",
])
def test_15_12_bad_format_is_minus_one(response):
    assert aepo(response).score == -1.0


def test_15_12_rloo_over_the_oracle_group():
    # Advantages the curriculum's RLOO computes from these rewards (algorithms.md §15.12).
    rewards = [aepo(answer(p)).score for p in (ORACLES[0][0], ORACLES[3][0], ORACLES[1][0], ORACLES[5][0])]
    n = len(rewards)
    advantages = [r - (sum(rewards) - r) / (n - 1) for r in rewards]
    assert advantages == pytest.approx([1.6139172, -0.0527494, 0.8249150, -2.3860828], abs=1e-6)


def test_g10_infigui_preset_of_the_gui_verifier():
    gold = [100, 100, 200, 200]
    gui = lambda r: verify("gui", r, gold, preset="infigui_aer", frame="abs").score  # noqa: E731
    assert gui(answer([(150, 150)])) == 2.0
    assert gui(answer([(10, 10), (150, 150)])) == pytest.approx(1.5)
    assert gui(answer([(10, 10), (300, 20), (20, 400)])) == pytest.approx(0.6667, abs=1e-4)
    assert gui(answer([(0, 0), (1, 1), (150, 150)])) == -1.0
    assert gui('[{"point_2d": [150, 150]}]') == -1.0


def test_duplicates_edges_and_no_think_option():
    assert aepo(answer([(15, 15), (15, 15)])).score == pytest.approx(1 + 1 / 2 ** 0.5)  # N=2: allowed
    assert aepo(answer([(15, 15), (15, 15), (0, 3)])).score == -1.0  # a duplicate makes a collinear triple
    assert aepo(answer([(20, 10)])).score == 2.0  # edges inclusive
    assert aepo('[{"point_2d": [15, 15]}]', no_think=True).score == 2.0


def test_points_are_converted_from_the_model_frame():
    # Gold box in original pixels; the model answers in Qwen2.5-VL resized pixels (1920x1080 -> 1932x1092).
    gold = [955, 535, 965, 545]
    assert aepo(answer([(966, 546)]), gold, frame="qwen25_resized", image_size=[1920, 1080]).score == 2.0
    assert aepo(answer([(966, 546)]), gold, image_size=[1920, 1080]).score == 0.0


def test_point_cap_and_bad_numbers():
    many = [(i, i * i) for i in range(40)]  # on a parabola: no three collinear
    assert aepo(answer(many)).score == -1.0
    assert aepo(answer(many[:30])).info["n_points"] == 30
    for bad in ('[{"point_2d": [NaN, 15]}]', '[{"point_2d": [Infinity, 15]}]', '[{"point_2d": ["15", 15]}]',
                '[{"point_2d": [1' + "0" * 400 + ', 15]}]'):
        assert aepo("<think>x</think>" + bad).score == -1.0
