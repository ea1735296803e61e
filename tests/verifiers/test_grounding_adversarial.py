"""Adversarial answers for every vision verifier (verifiers.md §4.7, §5.6): thousands of boxes,
NaN / infinite / enormous coordinates, code in the answer, bracket bombs. Each must come back as a
score (never an exception, never "could not judge") and garbage must never beat a format-only score."""
import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from mmrl_verifiers import run_item

GOLD_BOX = [10, 10, 50, 50]
VERIFIERS = {  # name: (gold, options, best score a garbage answer may get)
    # a huge box is clipped to the whole image and earns its tiny IoU (vector R5): 0.9·1600/(1920·1080)
    "grounding": (GOLD_BOX, {"frame": "qwen25_resized", "image_size": [1920, 1080]}, 0.1 + 0.9 * 1600 / 1920 / 1080),
    "detection": ([{"bbox_2d": GOLD_BOX, "label": "cat"}], {"frame": "abs", "image_size": [1920, 1080]}, 0.1),
    "counting": ({"count": 3, "boxes": [GOLD_BOX, [60, 60, 70, 70], [80, 80, 90, 90]]},
                 {"frame": "norm1000", "image_size": [1920, 1080]}, 0.1),
    "gui": ({"action": "click", "bbox": GOLD_BOX}, {"frame": "abs", "image_size": [1920, 1080]}, 0.1),
    "gui_gaussian": ({"action": "click", "bbox": GOLD_BOX}, {"frame": "abs", "coord_mode": "gaussian"}, 0.1),
    "aepo": (GOLD_BOX, {"frame": "abs"}, 0.0),
}
far_boxes = [[1000 + i % 500, 900, 1001 + i % 500, 901] for i in range(3000)]
ANSWERS = {
    "3000 boxes": json.dumps([{"bbox_2d": b, "label": "cat"} for b in far_boxes]),
    "3000 points": json.dumps([{"point_2d": b[:2]} for b in far_boxes]),
    "NaN box": '{"bbox_2d": [NaN, 10, 50, 50], "label": "cat"}',
    "infinite box": '[{"bbox_2d": [-Infinity, -Infinity, Infinity, Infinity], "label": "cat"}]',
    "1e999 box": "[-1e999, -1e999, 1e999, 1e999]",
    "1e308 box": '[{"bbox_2d": [-1e308, -1e308, 1e308, 1e308], "label": "cat"}]',
    "5000-digit number": "[1" + "0" * 5000 + ", 0, 10, 10]",
    "huge int point": '{"action": "click", "point": [1' + "0" * 400 + ", 20]}",
    "NaN point": '{"action": "click", "point": [NaN, 20]}',
    "1e300 point": '{"action": "click", "point": [1e300, 20]}',
    "empty click box": '{"action": "click", "bbox": [5, 5, 5, 5]}',
    "1e308 click box": '{"action": "click", "bbox_2d": [1e308, 1e308, 1e308, 1e308]}',
    "os.system": "[__import__('os').system('echo pwned')]",
    "code in point": "{'action': 'click', 'point': __import__('os').getcwd()}",
    "lambda": "{'action': (lambda: 'click')(), 'point': [20, 20]}",
    "power tower": "{'action': 'click', 'point': [9**9**9, 20]}",
    "bracket bomb": "[" * 50000,
    "nested lists": "[" * 2000 + "]" * 2000,
    "qwen2 token spam": "<|box_start|>(1,2),(3,4)<|box_end|>" * 300,
    "digits": "7" * 100000,
    "collinear line": json.dumps([{"point_2d": [i, 2 * i]} for i in range(5)]),
    "empty": "",
    "unicode junk": "\u202e\u0000\ud7ff" * 1000,
}


@pytest.mark.parametrize("name", VERIFIERS)
@pytest.mark.parametrize("answer", ANSWERS.values(), ids=ANSWERS.keys())
@pytest.mark.parametrize("wrapped", [True, False], ids=["tagged", "raw"])
def test_adversarial_answers_always_get_a_low_score(name, answer, wrapped):
    gold, options, ceiling = VERIFIERS[name]
    response = f"<think>x</think><answer>{answer}</answer>" if wrapped and name != "aepo" else (
        f"<think>x</think>{answer}" if wrapped else answer)
    v = run_item({"verifier": name.split("_")[0], "response": response, "gold": gold, **options})
    assert v.score is not None, v.reason
    assert math.isfinite(v.score) and v.score <= ceiling + 1e-9, (v.score, v.reason)


def test_megabyte_responses_are_rejected_up_front():
    v = run_item({"verifier": "grounding", "response": "[1,2,3,4]" * 200000, "gold": GOLD_BOX, "frame": "abs"})
    assert v.score == 0.0 and v.status == "format_error"


finite_or_not = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10 ** 30, 10 ** 30))


@settings(max_examples=150, deadline=None)
@given(coords=st.lists(finite_or_not, min_size=0, max_size=6), name=st.sampled_from(sorted(VERIFIERS)))
def test_any_numbers_in_any_verifier_give_a_score(coords, name):
    gold, options, _ = VERIFIERS[name]
    text = json.dumps(coords)  # NaN / Infinity spelled the JSON way
    for answer in (text, json.dumps({"bbox_2d": coords}), f'{{"action": "click", "point": {text}}}',
                   json.dumps([{"point_2d": coords}])):
        response = f"<think>x</think><answer>{answer}</answer>" if name != "aepo" else f"<think>x</think>{answer}"
        v = run_item({"verifier": name.split("_")[0], "response": response, "gold": gold, **options})
        assert v.score is not None and math.isfinite(v.score), v.reason
