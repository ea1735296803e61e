"""Format rewards: verifiers.md §1.4 (overlong penalty) and §1.5 (think/answer format) vectors."""
import pytest

from mmrl_verifiers import verify
from mmrl_verifiers.format import (PRESETS, answer_region, boxed_contents, check_format, compose,
                                   format_think_answer, overlong_penalty)


@pytest.mark.parametrize("length, expected", [(700, 0.0), (896, -0.5), (1024, -1.0), (2000, -1.0)])
def test_overlong_penalty_spec_vectors(length, expected):
    assert overlong_penalty(length, max_len=1024, buffer=256) == pytest.approx(expected)


@pytest.mark.parametrize("completion, mode, expected", [
    ("<think>x</think><answer>5</answer>", "required", 1.0),
    ("<think>x</think>\n<answer>5</answer>\n", "required", 1.0),
    ("<think>x</think><answer>5</answer><answer>6</answer>", "required", 0.0),
    ("<think></think><answer>5</answer>", "required", 0.0),
    ("<answer>5</answer>", "required", 0.0),
    ("<think>a<think>b</think><answer>5</answer>", "required", 0.0),
    ("Sure! <think>x</think><answer>5</answer>", "required", 0.0),
    ("x</think><answer>5</answer>", "prefilled", 1.0),
])
def test_format_spec_vectors(completion, mode, expected):
    assert format_think_answer(completion, mode, "answer") == expected
    verdict = verify("format", completion, think_mode=mode)
    assert verdict.score == expected and verdict.parts == {"format": expected}
    assert verdict.status == ("ok" if expected else "format_error")


@pytest.mark.parametrize("completion, mode, tag, expected", [
    ("<think>x</think> text <answer>5</answer>", "required", "answer", 0.0),  # text before <answer>
    ("<think>x</think><answer>5</answer> PS", "required", "answer", 0.0),   # text after </answer>
    ("<think>x</think><answer> </answer>", "required", "answer", 0.0),      # empty answer
    ("<think>x</think>\\boxed{5}", "required", None, 1.0),                  # no answer tag needed
    ("<think>x</think><answer>5</answer>", "prefilled", "answer", 0.0),     # prefilled: no <think>
    ("just \\boxed{5}", "none", None, 1.0),
    ("<think>x</think>\\boxed{5}", "none", None, 0.0),
    ("just \\boxed{5}", "auto", None, 1.0),
    ("x</think>\\boxed{5}", "auto", None, 1.0),
    ("a</think>b</think>\\boxed{5}", "auto", None, 0.0),
])
def test_format_rules(completion, mode, tag, expected):
    assert format_think_answer(completion, mode, tag) == expected


def test_min_think_chars_counts_non_space_chars():
    assert format_think_answer("<think> ab </think><answer>1</answer>", min_think_chars=2) == 1.0
    assert format_think_answer("<think> a  </think><answer>1</answer>", min_think_chars=2) == 0.0


def test_bad_think_mode_is_named():
    with pytest.raises(ValueError, match="think_mode"):
        check_format("x", think_mode="sometimes")


def test_answer_region():
    assert answer_region("<think>\\boxed{1}</think> so \\boxed{2}") == " so \\boxed{2}"
    assert answer_region("<think>t</think><answer>7</answer>", answer_tag="answer") == "7"
    assert answer_region("<think>t</think>no tag", answer_tag="answer") is None
    assert answer_region("a</think>b", think_mode="none") == "a</think>b"


def test_boxed_contents_brace_matching():
    assert boxed_contents(r"\boxed{a{b}c} x \fbox{d} \boxed{e") == ["a{b}c", "d", None]
    assert boxed_contents(r"\boxed{\frac{1}{2}}") == [r"\frac{1}{2}"]


@pytest.mark.parametrize("preset, acc, fmt, expected", [
    ("default", 1, 1, 1.0), ("default", 0, 1, 0.1), ("default", 1, 0, 0.9),
    ("r1v", 1, 0, 0.5), ("gui_r1", 0, 1, 0.2), ("sum", 1, 1, 2.0),
    ("verl_dapo", 1, 0, 1.0), ("verl_dapo", 0, 1, -1.0),
    ("infigui_g1", 1, 0, -1.0), ("infigui_g1", 1, 1, 2.0),
])
def test_presets_weights_of_the_anchors(preset, acc, fmt, expected):
    assert compose(acc, fmt, preset) == pytest.approx(expected)


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ValueError, match="verl_dapo"):
        compose(1, 1, "nope")
    assert set(PRESETS) >= {"default", "verl_dapo"}
