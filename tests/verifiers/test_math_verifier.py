"""Math verifier: verifiers.md §2.7 vectors M1–M22, the §2.4 numeric vectors, and the options of §2.5."""
import pytest

from mmrl_verifiers import verify

M6 = ("First guess \\boxed{3}. After careful re-derivation of every step in detail the result is "
      "\\boxed{2}")

# (id, completion, gold, accuracy, options, status)
SPEC_VECTORS = [
    ("M1", r"The answer is \boxed{\frac{1}{2}}.", "0.5", 1, {}, "ok"),
    ("M2", r"<think>2+2=4? no, 5</think> So \boxed{4}", "4", 1, {"think_mode": "required"}, "ok"),
    ("M3", r"I think \boxed{4}", "4", 0, {"think_mode": "required"}, "format_error"),
    ("M4", r"<think>the answer is \boxed{4}</think> final: \boxed{5}", "4", 0, {}, "wrong"),
    ("M5", r"\boxed{1}, \boxed{2}, \boxed{3}", "2", 0, {}, "wrong"),
    ("M6", M6, "2", 1, {}, "ok"),
    ("M7", M6, "2", 0, {"multi_box_policy": "strict_single"}, "wrong"),
    ("M8", r"\boxed{0.333333}", r"\frac{1}{3}", 1, {}, "ok"),
    ("M9", r"\boxed{0.33}", r"\frac{1}{3}", 0, {}, "wrong"),
    ("M10", r"\boxed{\dfrac{9}{7}}", r"\dfrac{9}{7}", 1, {}, "ok"),
    ("M11", r"\boxed{x=2}", "2", 1, {}, "ok"),
    ("M12", r"\boxed{(2,1)}", "(1,2)", 0, {}, "wrong"),
    ("M13", r"\boxed{\frac{1}{2}", r"\frac{1}{2}", 0, {}, "parse_error"),
    ("M14", "The final answer is 42", "42", 1, {"answer_format": "free"}, "ok"),
    ("M15", r"\boxed{10\text{ cm}}", "10", 1, {}, "ok"),
    ("M16", r"\boxed{50\%}", "0.5", 1, {}, "ok"),
    ("M17", r"\boxed{\frac{1}{2^{98}}}", r"\frac{1}{2^{99}}", 0, {}, "wrong"),
    ("M18", r"\boxed{9^{9^{9}}}", "1", 0, {}, "wrong"),
    ("M19", "", "1", 0, {}, "parse_error"),
    ("M20", r"\boxed{1} or \boxed{2}", "1", 0, {}, "wrong"),
    ("M21", r"\boxed{\{2,1\}}", r"\{1,2\}", 1, {}, "ok"),
    ("M22", r"\boxed{[1,2)}", "(1,2]", 0, {}, "wrong"),
]


@pytest.mark.parametrize("vid, completion, gold, accuracy, options, status", SPEC_VECTORS,
                         ids=[v[0] for v in SPEC_VECTORS])
def test_spec_vectors(vid, completion, gold, accuracy, options, status):
    v = verify("math", completion, gold, **options)
    assert v.parts["accuracy"] == accuracy, v.reason
    assert v.status == status
    assert v.score == pytest.approx(0.9 * accuracy + 0.1 * v.parts["format"])


NUMERIC_VECTORS = [  # §2.4 (prediction, gold, equal)
    ("0.333333", "1/3", 1), ("0.33", "1/3", 0), ("2e-7", "1e-7", 0), ("3.14159", r"\pi", 1),
    ("3.1416", r"\pi", 0), ("12345.68", "12345.678901", 1), ("0.666667", "2/3", 1),
    ("0.666666", "2/3", 0), ("100.0006", "100", 0), ("1e-9", "0", 1), ("1/2^98", "1/2^99", 0),
]


@pytest.mark.parametrize("pred, gold, equal", NUMERIC_VECTORS)
def test_numeric_tolerance_vectors(pred, gold, equal):
    assert verify("math", f"\\boxed{{{pred}}}", gold).parts["accuracy"] == equal


@pytest.mark.parametrize("pred, gold, equal", [
    (r"\frac{1}{2006!}", r"\frac{1}{2004!}", 0),      # Math-Verify #14 false positive
    ("0.0000002", "0.0000001", 0),                    # absolute rounding would say equal
    (r"\frac{3}{2}", "1.5", 1),
    (r"2\sqrt{2}", r"\sqrt{8}", 1),
    (r"\frac{355}{113}", r"\pi", 0),                  # 7 digits agree: exact values stay exact
    ("50", r"50\%", 1), ("0.5", r"50\%", 1),           # §2.4.4: Math-Verify's percent rules kept
])
def test_exactness_guard_and_percent(pred, gold, equal):
    assert verify("math", f"\\boxed{{{pred}}}", gold).parts["accuracy"] == equal


def test_precision_override_mathvista():
    assert verify("math", r"\boxed{1.23}", "1.2345", precision=2).parts["accuracy"] == 1
    assert verify("math", r"\boxed{1.24}", "1.2345", precision=2).parts["accuracy"] == 0
    assert verify("math", r"\boxed{1.3}", "1.2345", abs_tol=0.1).parts["accuracy"] == 1


@pytest.mark.parametrize("completion", ["\\boxed{\u22125}", "\\boxed{\uff0d\uff15}", "so \\boxed{-\uff15}"])
def test_unicode_minus_and_full_width_digits(completion):
    assert verify("math", completion, "-5").parts["accuracy"] == 1


def test_truncated_generation_scores_zero_accuracy():
    v = verify("math", r"\boxed{4}", "4", finish_reason="length")
    assert (v.parts["accuracy"], v.status, v.info.get("truncated")) == (0.0, "wrong", True)
    assert verify("math", r"\boxed{4}", "4", finish_reason="length", allow_truncated=True).score == 1.0
    assert verify("math", r"\boxed{4}", "4", finish_reason="stop").score == 1.0


def test_verl_dapo_preset_is_plus_minus_one():
    assert verify("math", r"\boxed{4}", "4", preset="verl_dapo").score == 1.0
    assert verify("math", r"\boxed{5}", "4", preset="verl_dapo").score == -1.0
    assert verify("math", "no box", "4", preset="verl_dapo").score == -1.0


def test_answer_tag_format():
    ok = verify("math", "<think>t</think><answer>4</answer>", "4", think_mode="required",
                answer_format="answer_tag")
    assert (ok.score, ok.parts) == (1.0, {"accuracy": 1.0, "format": 1.0})
    missing = verify("math", "<think>t</think> 4", "4", answer_format="answer_tag")
    assert (missing.parts["accuracy"], missing.status) == (0.0, "parse_error")


def test_free_format_reads_gsm8k_final_line_and_anchors():
    text = "She sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs and makes 9 * 2 = $<<9*2=18>>18.\n#### 18"
    assert verify("math", text, "18", answer_format="free").score == 1.0
    assert verify("math", "I got 3, then 5. The final answer is 7, checked with 2", "7",
                  answer_format="free").score == 1.0


def test_boxed_required_in_boxed_mode():
    v = verify("math", "The answer is 4.", "4")
    assert (v.parts, v.status) == ({"accuracy": 0.0, "format": 0.0}, "parse_error")


def test_unparsable_gold_is_not_a_zero():
    for gold in (None, "", "  ", r"\boxed{}", r"\text{}"):
        v = verify("math", r"\boxed{1}", gold)
        assert v.score is None and v.status == "gold_error", gold


def test_bad_option_value_is_named():
    v = verify("math", r"\boxed{1}", "1", answer_format="latex")
    assert v.score is None and "answer_format" in v.reason
    v = verify("math", r"\boxed{1}", "1", preset="dapo")
    assert v.score is None and "verl_dapo" in v.reason


def test_currency_gold_is_wrapped():
    assert verify("math", r"so \boxed{\$18.90}", r"\$18.90").score == 1.0


def test_missing_box_after_valid_think_is_parse_error():
    v = verify("math", "<think>t</think> 4", "4", think_mode="required")
    assert (v.status, v.parts) == ("parse_error", {"accuracy": 0.0, "format": 0.0})
