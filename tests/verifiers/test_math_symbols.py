"""Math golds that Math-Verify would judge wrongly without a word (issue 12): malformed golds are gold
errors, and a symbolic gold never matches a purely numeric answer (nor the reverse). Vectors:
physics / olympiad-style answers, written the way models write them."""
import pytest

from mmrl_verifiers import verify

PREFIXES = ["", "The answer is ", "Therefore the speed is ", "So the energy is ", "Hence "]


def accuracy(response: str, gold, **options) -> float:
    v = verify("math", response, gold, **options)
    assert v.score is not None, v
    return v.parts["accuracy"]


@pytest.mark.parametrize("gold", [r"v_0 t + \frac{1}{2} a t^2", r"\frac{E_0}{2}", r"2\pi R", r"I_0", r"\frac{I_0}{2}",
                                  r"2 E_0", r"E_1 - E_2", r"k_B T", r"\lambda_0/2", r"I_1 + I_2", r"q_e"])
@pytest.mark.parametrize("number", ["3", "0", "2", "1", "0.5"])
def test_a_bare_number_never_matches_a_symbolic_gold(gold, number):
    assert accuracy(rf"\boxed{{{number}}}", gold) == 0.0
    assert accuracy(f"The answer is ${number}$.", gold, answer_format="free") == 0.0


@pytest.mark.parametrize("gold", [r"v_0 t + \frac{1}{2} a t^2", r"\frac{E_0}{2}", r"2\pi R", r"I_0", r"2 E_0",
                                  r"E_1 - E_2", r"k_B T", r"\lambda_0/2", r"I_0 e^{-t/\tau}", r"\omega_0"])
@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_exact_gold_matches_whatever_words_come_before_it(gold, prefix):
    assert accuracy(f"{prefix}$\\boxed{{{gold}}}$", gold) == 1.0
    assert accuracy(f"{prefix}${gold}$.", gold, answer_format="free") == 1.0
    assert accuracy(f"{prefix}$x = {gold}$.", gold, answer_format="free") == 1.0


@pytest.mark.parametrize("response, gold", [
    (r"\boxed{-1}", r"I_1 I_2"),                 # two currents read as i·i = -1: a bare -1 scored 1
    (r"The answer is $-2$.", r"I_1 I_2 + I_3 I_4"),
    (r"So the energy is $2 E_0$.", "2"),        # Math-Verify reads the answer as the number 2
    (r"\boxed{I_1}", "I_0"),                    # both read as the imaginary unit
    (r"\boxed{2 I_0}", r"I_1 + I_2"),           # both 2i
    (r"\boxed{\omega_0 t}", "0"),
    (r"\boxed{m_1 g}", "m_1"),                  # Math-Verify reads the box as m_1
    (r"\boxed{\frac{a t^2}{2} + v_0 t}", r"v_0 t + a t^2"),  # ... and this one without its last t
])
def test_different_symbols_or_a_symbolic_answer_to_a_numeric_gold_are_wrong(response, gold):
    assert accuracy(response, gold, answer_format="free") == 0.0


def test_equivalent_forms_still_match():
    assert accuracy(r"\boxed{t v_0 + \frac{a t^2}{2}}", r"v_0 t + \frac{1}{2} a t^2") == 1.0
    assert accuracy(r"\boxed{2 R \pi}", r"2\pi R") == 1.0
    assert accuracy(r"\boxed{x = 2}", "2") == 1.0   # an equation states its right-hand side
    assert accuracy(r"\boxed{40}", "40m") == 1.0    # a unit is not a symbol
    assert accuracy(r"\boxed{5.4 \text{ cents}}", r"5.4 \text{ cents}") == 1.0


@pytest.mark.parametrize("gold, why", [
    ("$2", "unbalanced $"),
    ("2$ and $3$", "unbalanced $"),
    (r"\frac{1}{2", "unbalanced braces"),
    ("$2$ and $3$", "2 math regions"),
    ("2,", "stray separator"),
    (";3", "stray separator"),
    ("1,,2", "stray separator"),
    ("4 & 5", "table separator"),
    (r"2 \\ 3", "table separator"),
    (r"m_1 g", "reads only 'm_1'"),             # Math-Verify drops the g
    (r"\mu_k m g", "reads only"),
    ("k + p + s", "reads only"),                # MathVista gold: `s` taken for seconds
])
def test_malformed_gold_is_a_gold_error_not_judged(gold, why):
    v = verify("math", r"\boxed{2}", gold)
    assert (v.score, v.status) == (None, "gold_error") and why in v.reason, v


def test_well_formed_golds_with_delimiters_are_kept():
    assert accuracy(r"\boxed{32348}", r"\$32,\!348") == 1.0
    assert accuracy(r"\boxed{113.097}", r"Area $=113.097$ units $^{2}$") == 1.0
    assert accuracy(r"\boxed{\begin{pmatrix} 1 \\ 2 \end{pmatrix}}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}") == 1.0
