"""Math verifier (verifiers.md §2.5): Math-Verify extraction and comparison, with the numeric
exactness override of §2.4 and a size guard in front of sympy.

Options: think_mode ("auto"), answer_format ("boxed" | "answer_tag" | "free"), answer_tag
("answer", used with answer_format="answer_tag"), multi_box_policy ("mv" | "strict_single"),
precision (decimal places, MathVista) or abs_tol, preset ("default" = 0.9·accuracy + 0.1·format;
"verl_dapo" = ±1); declared in contract.py. `truncated` comes from the pool (finish_reason=length).
Math-Verify's own SIGALRM timeouts are off: the VerifierPool's worker kill bounds the time.
"""
from __future__ import annotations

import logging
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import mpmath
import sympy
from latex2sympy2_extended import NormalizationConfig
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from .format import PRESETS, answer_region, boxed_contents, check_format, compose
from .math_guard import computation_guard, is_percent, malformed_gold, symbol_guard, truncated_gold
from .verdict import Verdict

logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeout disabled" warnings: intended

MAX_REGION_CHARS = 4000
MAX_POWER, MAX_FACTORIAL, MAX_NODES = 10_000, 10_000, 2_000
ANSWER_FORMATS = ("boxed", "answer_tag", "free")
MULTI_BOX_POLICIES = ("mv", "strict_single")

# The spec's malformed_operators=False would reject the standard shorthands \frac12, \frac 59, \sqrt2
# (7 MATH-500 gold solutions), so the fix-ups stay on.
PRED_CONFIG = [
    LatexExtractionConfig(boxed_match_priority=0, normalization_config=NormalizationConfig(
        basic_latex=True, units=True, malformed_operators=True, nits=True, boxed="all", equations=False)),
    ExprExtractionConfig(),
]
_DELIMITED = re.compile(r"(?<!\\)\$|\\\(|\\\[|\\boxed")  # \$ is a currency sign, not a delimiter
_FINAL_MARK = "####"  # GSM8K's final-answer line, read in answer_format="free"
_SCIENTIFIC = re.compile(r"(?<![\w\\.])(\d+(?:\.\d+)?)[eE]([+-]?\d{1,3})(?![\w.])")
# Unicode minus signs and the full-width ASCII block; NFKC on the whole text would rewrite LaTeX.
_UNICODE = str.maketrans({"\u2212": "-", "\ufe63": "-", **{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}})


def normalize_text(text: str) -> str:
    """Unicode look-alikes to ASCII, and `2e-7` (which LaTeX parsers read as 2·e − 7) to a decimal."""
    def decimal(m: re.Match) -> str:
        try:
            return format(Decimal(m.group(0)), "f")
        except InvalidOperation:
            return m.group(0)
    return _SCIENTIFIC.sub(decimal, text.translate(_UNICODE))


@lru_cache(maxsize=8192)
def parse_gold(gold: str) -> tuple:
    """The gold answer parsed once (default config), wrapped in \\boxed{} when undelimited (§2.5.4)."""
    text = normalize_text(gold.strip())
    if not _DELIMITED.search(text):
        text = f"\\boxed{{{text}}}"
    return tuple(parse(text, parsing_timeout=None))


def too_big(expr: sympy.Basic) -> bool:
    """§2.4.5: powers or factorials too large to evaluate exactly, or too many nodes."""
    for n, node in enumerate(sympy.preorder_traversal(expr)):
        if n > MAX_NODES:
            return True
        if isinstance(node, sympy.Pow):
            limit, arg = MAX_POWER, node.exp
        elif isinstance(node, (sympy.factorial, sympy.factorial2, sympy.binomial)):
            limit, arg = MAX_FACTORIAL, node.args[0]
        else:
            continue
        if not arg.is_number:
            continue
        if arg.args and too_big(arg):  # a tower: never evaluate the exponent's exponent
            return True
        try:
            if abs(sympy.N(arg, 15)) > limit:
                return True
        except (TypeError, ValueError):
            return True
    return False


def _number(x) -> sympy.Expr | None:
    """x as a finite real sympy number (exact where possible), or None."""
    if not isinstance(x, sympy.Expr) or not x.is_number:
        return None
    try:
        v = x.doit()
        if v.is_Rational or (v.is_real and v.is_finite and not v.has(sympy.I)):
            return v
    except Exception:  # sympy raises many kinds on odd input; such a value is not a plain number
        pass
    return None


def _mpf(x: sympy.Expr, digits: int = 60) -> mpmath.mpf:
    with mpmath.workdps(digits):
        return mpmath.mpf(sympy.Float(sympy.N(x, digits), digits)._mpf_)


def numbers_equal(g: sympy.Expr, p: sympy.Expr, precision: int | None = None,
                  abs_tol: float | None = None) -> bool:
    """§2.4: exact numbers compare exactly; a float agrees to 6 significant figures (scale-free);
    a dataset precision (decimal places) or abs_tol replaces that."""
    with mpmath.workdps(60):
        diff = abs(_mpf(p) - _mpf(g)) / (1 + mpmath.mpf("1e-10"))  # slack for binary floats: 1e-9 ≤ 1e-9
        if precision is not None:
            return diff <= mpmath.mpf(10) ** -int(precision) / 2 + mpmath.mpf("1e-12")
        if abs_tol is not None:
            return diff <= abs_tol
        if g.is_Rational and p.is_Rational:
            return g == p
        if not (g.has(sympy.Float) or p.has(sympy.Float)):  # exact irrationals: 45 digits agree
            return diff <= mpmath.mpf("1e-45") * max(1, abs(_mpf(g)))
        if _mpf(g) == 0:
            return diff <= mpmath.mpf("1e-9")
        e = int(mpmath.floor(mpmath.log10(abs(_mpf(g)))))
        return diff <= mpmath.mpf(10) ** (e - 5) / 2


def same_answer(gold: tuple, pred: list, precision: int | None = None,
                abs_tol: float | None = None) -> tuple[bool, str]:
    """(equal?, how) for parsed gold and prediction."""
    guard = symbol_guard(gold, pred) or computation_guard(gold, pred)
    if guard is not None:
        return guard
    g = next((x for x in gold if isinstance(x, sympy.Basic)), None)
    p = next((x for x in pred if isinstance(x, sympy.Basic)), None)
    if g is not None and p is not None and not (is_percent(g) or is_percent(p)):  # §2.4.4: keep
        # Math-Verify's percent rules (50% = 0.5 = 50)
        p_big, g_big = too_big(p), too_big(g)
        if p_big and not g_big:
            return False, "size_guard"
        gn, pn = (None, None) if g_big else (_number(g), _number(p))
        if gn is not None and pn is not None:
            try:
                return numbers_equal(gn, pn, precision, abs_tol), "numeric"
            except (TypeError, ValueError, ArithmeticError):  # not evaluable after all: let verify judge
                pass
    return verify(list(gold), pred, float_rounding=6, numeric_precision=15, strict=True,
                  timeout_seconds=None), "math_verify"


# Typical answer shapes, verified once when a pool worker starts (pool.py calls warm_up): the LaTeX
# parser (ANTLR) builds its prediction cache as it meets new constructs, which made a fresh worker's
# first few hundred items ~40% slower than a warm process's. Not data from any benchmark.
WARM_UP = [r"\frac{1}{2}", r"\dfrac{3}{4}", r"\sqrt{2}", r"3\sqrt{5}", r"\frac{\sqrt{3}}{2}", r"2\pi", r"\frac{\pi}{3}",
           r"x^2+2x+1", r"(1, 2)", r"[0, 1)", r"(-\infty, 3]", r"\{1, 2, 3\}", r"x = 5", r"y = 2x + 3", r"10\%",
           r"45^\circ", r"\$12.50", r"1,000", r"\text{(B)}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\log_2 8",
           r"\sin x", r"e^{2}", r"3 + 4i", r"-\frac{5}{7}", r"0.25", r"2^{10}", r"\binom{5}{2}", r"5!", r"a_1 + a_2",
           r"\frac{x+1}{x-1}", r"|x - 1|", r"\infty", r"\emptyset", r"x \in [1, 2]", r"\left( \frac{1}{2}, 3 \right)",
           r"\frac{1}{2}x^2", r"(x-1)(x+2)", r"\sqrt[3]{4}", r"\text{Monday}", r"k = -2", r"12 \text{ cm}^2",
           r"\frac{a}{b}", r"\cos \theta", r"\tan 30^\circ", r"n(n+1)/2", r"4.5", r"-3", r"\pm 2", r"x > 3", r"2 \le x < 5"]


def warm_up() -> None:
    for answer in WARM_UP:
        verify_math(f"The answer is $\\boxed{{{answer}}}$.", answer)


def _check_options(answer_format: str, multi_box_policy: str, preset_name: str) -> str:
    if answer_format not in ANSWER_FORMATS:
        return f"math: answer_format must be one of {', '.join(ANSWER_FORMATS)}, got {answer_format!r}"
    if multi_box_policy not in MULTI_BOX_POLICIES:
        return f"math: multi_box_policy must be one of {', '.join(MULTI_BOX_POLICIES)}, got {multi_box_policy!r}"
    if preset_name not in PRESETS:
        return f"math: unknown reward preset {preset_name!r}; known: {', '.join(PRESETS)}"
    return ""


def verify_math(response: str, gold, think_mode: str = "auto", answer_format: str = "boxed",
                answer_tag: str = "answer", multi_box_policy: str = "mv", precision: int | None = None,
                abs_tol: float | None = None, truncated: bool = False, preset: str = "default",
                min_think_chars: int = 1) -> Verdict:
    """Math answer vs gold with Math-Verify + exact numeric guard; 0.9·accuracy + 0.1·format."""
    bad_option = _check_options(answer_format, multi_box_policy, preset)
    if bad_option:
        return Verdict.unjudged("infra_error", bad_option)
    gold_text = str(gold).strip() if gold is not None else ""
    problem = malformed_gold(gold_text)
    if problem:
        return Verdict.unjudged("gold_error", f"gold answer {gold_text[:80]!r} is malformed: {problem}")
    gold_parsed = parse_gold(gold_text) if gold_text else ()
    if not gold_parsed:
        return Verdict.unjudged("gold_error", f"gold answer {gold_text[:80]!r} does not parse")
    kept = truncated_gold(normalize_text(gold_text), gold_parsed)
    if kept is not None:
        return Verdict.unjudged("gold_error", f"Math-Verify reads only {kept[:80]!r} of the gold "
                                              f"{gold_text[:80]!r}; write it with explicit operators")

    tag = answer_tag if answer_format == "answer_tag" else None
    try:
        problem = check_format(response, think_mode, tag, min_think_chars)
    except ValueError as e:
        return Verdict.unjudged("infra_error", f"math: {e}")
    region = answer_region(response, think_mode, tag)
    boxes = boxed_contents(region[-MAX_REGION_CHARS:]) if region is not None else []
    boxed = bool(boxes) and boxes[-1] is not None  # an unclosed last box counts as missing
    fmt = 0.0 if problem or (answer_format == "boxed" and not boxed) else 1.0

    def result(status: str, reason: str, accuracy: float = 0.0, extracted: str | None = None,
               **info) -> Verdict:
        return Verdict(compose(accuracy, fmt, preset), {"accuracy": accuracy, "format": fmt},
                       status, reason, extracted, info)

    if think_mode == "required" and problem:
        return result("format_error", problem)
    if truncated:  # the pool's rule: finish_reason=length and not allow_truncated
        return result("wrong", "truncated generation (finish_reason=length)", truncated=True)
    if region is None:
        return result("parse_error", f"no <{answer_tag}> answer")
    if answer_format == "free" and _FINAL_MARK in region:
        region = region.rpartition(_FINAL_MARK)[2]
    region = normalize_text(region[-MAX_REGION_CHARS:])
    if answer_format == "boxed" and not boxed:
        return result("parse_error", "no complete \\boxed{} answer")
    if multi_box_policy == "strict_single" and len({"".join(b.split()) for b in boxes if b is not None}) > 1:
        return result("wrong", "several different \\boxed{} answers", multi_boxed=True)
    pred = parse(region, PRED_CONFIG, extraction_mode="any_match", parsing_timeout=None)
    if not pred:
        return result("parse_error", "no answer could be extracted")
    if boxed and truncated_gold(normalize_text(boxes[-1]), pred) is not None:
        pred = [normalize_text(boxes[-1])]  # the parse lost symbols of the box (`m_1 g` -> m_1): its text counts
    extracted = str(pred[-1])
    equal, how = same_answer(gold_parsed, pred, precision, abs_tol)
    if equal:
        return result("ok", "", 1.0, extracted, compared=how)
    if how == "computation_guard":
        return result("wrong", f"{extracted[:80]!r} is a computation, not its value (gold {gold_text[:80]!r})", 0.0,
                      extracted, compared=how)
    return result("wrong", f"{extracted[:80]!r} != {gold_text[:80]!r}", 0.0, extracted, compared=how)
