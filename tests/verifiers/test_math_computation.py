"""A computation is not an answer (math_guard rule 3): Math-Verify evaluates `206 * 957` and finds it
equal to 197142, so a policy that restates the question's arithmetic would score as if it had done
it. SmolLM2 learned exactly that in 10 steps of recipes/tool_python.yaml (accuracy 3% -> 100% with
the tool unused). A plain-number gold is answered only by a plain number, in any writing of it."""
import pytest

from mmrl_verifiers import verify


def judged(response: str, gold, **options):
    v = verify("math", response, gold, **options)
    assert v.score is not None, v
    return v


@pytest.mark.parametrize("response", [
    "The answer is 206 * 957.", "206*957", r"The answer is $206 \times 957$.", r"$206 \cdot 957$",
    "Solve the following multiplication: 206 * 957.", "197141 + 1", "197143 - 1", "394284/2"])
def test_restating_the_arithmetic_scores_nothing(response):
    v = judged(response, "197142", answer_format="free")
    assert v.parts["accuracy"] == 0.0 and v.status == "wrong" and "computation" in v.reason
    assert judged(rf"\boxed{{{response}}}", "197142").parts["accuracy"] == 0.0


@pytest.mark.parametrize("response,gold", [
    (r"\boxed{2^{10}}", "1024"), (r"\boxed{\sqrt{4}}", "2"), (r"\boxed{3+4}", "7"), (r"\boxed{\frac{1}{2}+\frac{1}{4}}", "0.75"),
    (r"\boxed{10 \times 5\%}", r"50\%")])
def test_a_plain_number_gold_takes_no_expression(response, gold):
    assert judged(response, gold).parts["accuracy"] == 0.0


@pytest.mark.parametrize("response,gold", [
    ("The answer is 197142.", "197142"), ("The answer is 197,142.", "197142"), (r"\boxed{197142}", "197142"),
    (r"\boxed{\frac{1}{2}}", "0.5"), (r"\boxed{1/2}", "0.5"), (r"\boxed{0.5}", r"\frac{1}{2}"), (r"\boxed{-1/2}", "-0.5"),
    (r"\boxed{-\frac{5}{7}}", "-5/7"), (r"\boxed{50\%}", "0.5"), (r"\boxed{50\%}", r"50\%"), (r"\boxed{x=2}", "2"),
    (r"\boxed{10\text{ cm}}", "10"), (r"\boxed{0.333333}", r"\frac{1}{3}"), (r"\boxed{1e3}", "1000"),
    (r"\boxed{\frac{10}{4}}", r"\frac{10}{4}"), (r"\boxed{\frac{5}{2}}", r"\frac{10}{4}")])  # a gold as its dataset wrote it
def test_every_writing_of_the_number_itself_still_counts(response, gold):
    assert judged(response, gold, answer_format="boxed" if "boxed" in response else "free").parts["accuracy"] == 1.0


@pytest.mark.parametrize("response,gold", [
    (r"\boxed{2^{10}}", "2^{10}"), (r"\boxed{\sqrt{2}}", r"\sqrt{2}"), (r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt{3}}{2}"),
    (r"\boxed{2\sqrt{2}}", r"\sqrt{8}"), (r"\boxed{\frac{1}{2^{99}}}", r"\frac{1}{2^{99}}")])
def test_expression_golds_are_judged_by_value_as_before(response, gold):
    assert judged(response, gold).parts["accuracy"] == 1.0
