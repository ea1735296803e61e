"""GUI action verifier: verifiers.md §4.8 vectors G1-G13, presets, parsing conventions."""
import json

import pytest

from mmrl_verifiers import verify
from mmrl_verifiers.geometry import gaussian_coverage, gaussian_point
from mmrl_verifiers.gui import key_chord, text_f1

CLICK = {"action": "click", "bbox": [100, 200, 200, 240]}


def wrap(answer: str) -> str:
    return f"<think>find the button</think><answer>{answer}</answer>"


def gui(pred, gold=CLICK, **options):
    options.setdefault("frame", "abs")
    answer = pred if isinstance(pred, str) else json.dumps(pred)
    return verify("gui", wrap(answer), gold, **options)


@pytest.mark.parametrize("case, pred, total", [
    ("G1", {"action": "click", "point": [150, 220]}, 1.0),
    ("G2", {"action": "click", "point": [200, 240]}, 1.0),
    ("G3", {"action": "click", "point": [201, 220]}, 0.1),
    ("G4", {"action": "long_press", "point": [150, 220]}, 0.1),
])
def test_click_vectors(case, pred, total):
    assert gui(pred).score == pytest.approx(total)


def test_g2_gui_r1_uses_the_strict_interior():
    assert gui({"action": "click", "point": [200, 240]}, preset="gui_r1").parts["accuracy"] == 0.0
    assert gui({"action": "click", "point": [150, 220]}, preset="gui_r1").score == pytest.approx(1.0)


def test_g5_text_f1_and_gui_r1_threshold():
    gold = {"action": "type", "text": "shanghai shopping mall"}
    pred = {"action": "type", "text": "shanghai mall"}
    assert gui(pred, gold).score == pytest.approx(0.82)
    v = gui(pred, gold, preset="gui_r1")
    assert v.parts["accuracy"] == 1.0 and v.score == pytest.approx(1.0)


def test_g6_no_substring_shortcut():
    assert gui({"action": "type", "text": "a"}, {"action": "type", "text": "apple"}).score == pytest.approx(0.1)


def test_g7_scroll_direction_case_insensitive():
    gold = {"action": "scroll", "direction": "down"}
    assert gui({"action": "scroll", "direction": "DOWN"}, gold).score == pytest.approx(1.0)
    assert gui({"action": "scroll", "direction": "up"}, gold).score == pytest.approx(0.1)
    # GUI-R1 writes the direction into input_text
    assert gui({"action": "scroll", "point": [-100, -100], "input_text": "down"}, gold).score == pytest.approx(1.0)


def test_g8_ui_r1_preset():
    inside = "[{'action': 'click', 'coordinate': [150, 220]}]"
    outside = "[{'action': 'click', 'coordinate': [10, 20]}]"
    assert gui(inside, preset="ui_r1").score == 3.0
    assert gui(outside, preset="ui_r1").score == 2.0
    scroll_gold = {"action": "scroll", "direction": "down"}
    assert gui({"action": "scroll", "direction": "up"}, scroll_gold, preset="ui_r1").score == 3.0
    # UI-R1's own gold strings (a box in 'coordinate'; no direction for scroll) are read as they are
    ui_r1_click = "<answer>[{'action': 'click' ,'coordinate': [100, 200, 200, 240] }]</answer>"
    assert gui(inside, ui_r1_click, preset="ui_r1").score == 3.0
    ui_r1_scroll = "<answer>[{'action': 'scroll' ,'coordinate': [0, 0, 0, 0]}]</answer>"
    assert gui({"action": "scroll", "direction": "up"}, ui_r1_scroll, preset="ui_r1").score == 3.0
    # UI-R1's format is its tag regex: trailing text after </answer> fails it
    assert verify("gui", wrap(inside) + " ok", CLICK, frame="abs", preset="ui_r1").score == 2.0


def test_g9_qwen25_frame_click():
    v = gui({"action": "click", "point": [966, 546]}, {"action": "click", "bbox": [955, 535, 965, 545]},
            frame="qwen25_resized", image_size=[1920, 1080])
    assert v.score == pytest.approx(1.0) and "[960.0, 540.0]" in v.extracted
    # the same numbers read as original pixels miss the 10-pixel target
    assert gui({"action": "click", "point": [966, 546]}, {"action": "click", "bbox": [955, 535, 965, 545]},
               image_size=[1920, 1080]).parts["accuracy"] == 0.0


def test_g9_gold_in_norm1000_and_model_in_norm1():
    gold = {"action": "click", "bbox": [500, 500, 600, 600], "frame": "norm_0_1000", "image_size": [2000, 1000]}
    assert gui({"action": "click", "point": [0.55, 0.55]}, gold, frame="norm1").parts["accuracy"] == 1.0


@pytest.mark.parametrize("alpha, point, expected", [
    (0.5, [150, 220], 1.0), (0.5, [200, 220], 0.6065), (0.5, [400, 220], 3.7e-6), (0.25, [200, 220], 0.1353),
])
def test_g11_gaussian_point(alpha, point, expected):
    assert gaussian_point(point, CLICK["bbox"], alpha) == pytest.approx(expected, rel=1e-2)  # spec: 2-4 digits
    v = gui({"action": "click", "point": point}, coord_mode="gaussian", alpha=alpha)
    assert v.parts["argument"] == pytest.approx(expected, rel=1e-2)


@pytest.mark.parametrize("alpha, pred, expected", [
    (0.5, [100, 200, 200, 240], 0.4661), (0.25, [100, 200, 200, 240], 0.9111), (0.5, [0, 0, 1000, 1000], 0.0017),
])
def test_g12_gaussian_coverage(alpha, pred, expected):
    assert gaussian_coverage(pred, CLICK["bbox"], alpha) == pytest.approx(expected, abs=1e-4)


def test_gaussian_preset_with_a_box_averages_point_and_coverage():
    v = gui({"action": "click", "bbox_2d": [100, 200, 200, 240]}, preset="gaussian")
    assert v.parts["argument"] == pytest.approx((1.0 + 0.9111) / 2, abs=1e-4)


def test_g13_code_in_the_answer_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    for answer in (f"[__import__('os').system('touch {marker}')]",
                   f"{{'action': 'click', 'point': __import__('os').system('touch {marker}')}}"):
        v = gui(answer)
        assert v.score == 0.0 and v.parts["format"] == 0.0
    assert not marker.exists()


def test_multiple_actions_score_zero():
    v = gui([{"action": "click", "point": [150, 220]}, {"action": "click", "point": [150, 221]}])
    assert v.score == 0.0 and "exactly one" in v.reason


def test_missing_argument_fails_format():
    v = gui({"action": "click"})
    assert v.parts["format"] == 0.0 and "needs a point" in v.reason
    inverted = gui({"action": "click", "bbox": [180, 230, 120, 210]})  # centre inside, but no valid box
    assert inverted.parts["format"] == 0.0 and inverted.parts["accuracy"] == 0.0


@pytest.mark.parametrize("alias, gold", [
    ("tap", CLICK), ("navigate_back", {"action": "press_back"}), ("home", {"action": "press_home"}),
    ("finish", {"action": "complete"}), ("wait", {"action": "wait"}),
])
def test_aliases_and_argument_free_actions(alias, gold):
    assert gui({"action": alias, "point": [150, 220]}, gold).score == pytest.approx(1.0)


def test_press_and_enter():
    gold = {"action": "press", "key": "Ctrl+Shift+A"}
    assert gui({"action": "hotkey", "key": "shift+control+a"}, gold).score == pytest.approx(1.0)
    assert gui({"action": "press", "key": "ctrl+a"}, gold).score == pytest.approx(0.1)
    assert gui({"action": "enter"}, {"action": "press", "key": "return"}).score == pytest.approx(1.0)
    assert key_chord("Cmd + C") == ("meta", "c")


def test_unknown_action_scores_no_accuracy():
    v = gui({"action": "teleport", "point": [150, 220]})
    assert v.parts["accuracy"] == 0.0


def test_point_gold_uses_radius_and_image_size():
    gold = {"action": "click", "point": [500, 500]}
    assert gui({"action": "click", "point": [590, 500]}, gold, image_size=[2000, 1000]).parts["accuracy"] == 1.0
    assert gui({"action": "click", "point": [610, 500]}, gold, image_size=[2000, 1000]).parts["accuracy"] == 0.0
    assert gui({"action": "click", "point": [639, 500]}, gold).parts["accuracy"] == 1.0  # 140 px without a size
    assert gui({"action": "click", "point": [640, 500]}, gold, preset="gui_r1").parts["accuracy"] == 0.0


def test_point_outside_the_image_scores_zero():
    gold = {"action": "click", "bbox": [0, 0, 3000, 3000]}
    assert gui({"action": "click", "point": [2500, 500]}, gold, image_size=[2000, 1000]).parts["accuracy"] == 0.0


def test_text_f1_normalisation():
    assert text_f1("New-York!", "new york") == 1.0
    assert text_f1("ＮＥＷ york", "new york") == 1.0  # full-width letters (NFKC)
    assert text_f1("", "") == 1.0 and text_f1("x", "") == 0.0


@pytest.mark.parametrize("gold, why", [
    ({"action": "fly"}, "not one of"),
    ({"action": "click"}, "needs a point"),
    ({"action": "click", "bbox": [10, 10, 5, 5]}, "x2 > x1"),
    ({"action": "click", "bbox": [10, 10, 10, 50]}, "x2 > x1"),
    ("[1, 2]", "action object"),
])
def test_broken_gold_is_not_judged(gold, why):
    v = gui({"action": "click", "point": [1, 1]}, gold)
    assert v.score is None and why in v.reason


def test_truncated_generation_gets_no_accuracy():
    v = gui({"action": "click", "point": [150, 220]}, finish_reason="length")
    assert v.parts["accuracy"] == 0.0 and v.score == pytest.approx(0.1)


def test_gui_r1_spellings_of_gold_and_answer():
    gold = {"action": "click", "gt_bbox": [150, 220], "input_text": "no input text"}
    pred = "[{'action': 'click', 'point': [200, 230], 'input_text': 'no input text'}]"
    assert gui(pred, gold, preset="gui_r1").score == pytest.approx(1.0)
    type_gold = {"action": "type", "gt_bbox": [-100, -100], "input_text": "hello world"}
    typed = "[{'action': 'type', 'point': [-100, -100], 'input_text': 'hello'}]"
    assert gui(typed, type_gold, preset="gui_r1").score == pytest.approx(1.0)  # F1 0.67 >= 0.5
    assert gui(typed, type_gold).score == pytest.approx(0.1 + 0.9 * 2 / 3)
    placeholder = "[{'action': 'type', 'point': [-100, -100], 'input_text': 'no input text'}]"
    assert gui(placeholder, type_gold, preset="gui_r1").parts["format"] == 0.0  # GUI-R1: type needs a text


@pytest.mark.parametrize("point, lands", [
    ([104, 203], True),    # inside, near a corner: a Gaussian argument of 0.03 at alpha 0.25, yet the click lands
    ([150, 220], True),
    ([207, 220], False),   # just outside: a Gaussian argument of 0.57 at alpha 0.5, yet the click misses
    ([150, 243], False),
])
def test_gaussian_mode_is_correct_when_the_click_lands_in_the_box(point, lands):
    """The Gaussian is a shaping reward (GUI-G²); a click is correct when it lands on the element,
    whatever the reward's width: status "ok" means the same in every coord_mode."""
    for alpha in (0.25, 0.5, 1.0):
        v = gui({"action": "click", "point": point}, coord_mode="gaussian", alpha=alpha)
        assert v.parts["argument"] == pytest.approx(gaussian_point(point, CLICK["bbox"], alpha))
        assert (v.status == "ok") == lands, (alpha, v.parts)
        assert v.parts["accuracy"] == pytest.approx(gaussian_point(point, CLICK["bbox"], alpha))
