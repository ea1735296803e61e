"""Guards in front of Math-Verify for what its parse gets wrong silently (issue 12).

1. Malformed golds (an unbalanced `$` or brace, several math regions, a stray separator): Math-Verify
   repairs or truncates them and judges against what is left. They are gold errors instead.
2. Symbols lost in the parse: latex2sympy reads `I_0` as the imaginary unit, `m_1 g` as `m_1`, and a
   prose answer "the energy is $2 E_0$" as the bare number 2. So a wrong bare number could match a
   symbolic gold, and the exact gold could fail depending on the words before it. The rule: a gold
   with symbols never matches a purely numeric answer, nor a numeric gold an answer with symbols;
   and where a parse dropped symbols its value is not trusted, the answers' text is compared.
3. A computation is not an answer: Math-Verify evaluates `206 * 957` (or `2^{10}`, `3+4`) and finds it
   equal to the gold 197142, so a policy that restates the question's arithmetic scores as if it had
   done it (seen: SmolLM2 learned exactly that in 10 steps of the python-tool recipe). The rule: a
   gold that is a plain number (an integer, decimal, fraction or percentage as written) is answered
   only by a plain number; a numeric expression is a wrong answer (as PRM800K's grader requires
   integer answers for integer golds).

Symbols are read from the LaTeX text: single letters (with a subscript) and Greek letters, outside
\\text{...}-like blocks; `e` and `i` are constants, multi-letter words are units or prose.
"""
from __future__ import annotations

import math
import re

import sympy

_TEXT_BLOCK = re.compile(r"\\(?:text|textbf|textit|mbox|mathrm|operatorname|mathbf|textnormal)\s*\{[^{}]*\}")
_COMMAND = re.compile(r"\\([a-zA-Z]+)")
_SUBSCRIPT = r"(?:_(?:\{([^{}]*)\}|([a-zA-Z0-9])))?"
_LETTER = re.compile(r"(?<![a-zA-Z\\'])([a-zA-Z])(?![a-zA-Z(]|'[a-zA-Z])" + _SUBSCRIPT)  # not o'clock
_GREEK_CMD = re.compile(r"\\(alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|"
                        r"lambda|mu|nu|xi|rho|sigma|tau|upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|"
                        r"Lambda|Xi|Sigma|Upsilon|Phi|Psi|Omega)(?![a-zA-Z])" + _SUBSCRIPT)
_DOLLAR = re.compile(r"(?<!\\)\$")
_REGION = re.compile(r"(?<!\\)\$\$?(.+?)(?<!\\)\$\$?", re.DOTALL)
_ENV = re.compile(r"\\begin\{")
_UNIT = re.compile(r"(?<=[\d}.])\s*[a-zA-Z]{1,3}(?:\s*/\s*[a-zA-Z]{1,3})?\s*$")
_ENDS_IN_SUBSCRIPT = re.compile(r"_(?:\{[^{}]*\}|\w)$")
_STRAY = re.compile(r"^\s*[,;]|[,;]\s*$|,\s*,|;\s*;")


def _key(name: str, sub: str | None) -> str:
    return (name + ("_" + sub.replace(" ", "") if sub else "")).lower()


def text_symbols(latex: str) -> set[str]:
    """The symbol names a LaTeX answer writes (lower case, subscripts without braces)."""
    text = _TEXT_BLOCK.sub(" ", latex)
    out = {_key(m.group(1), m.group(2) or m.group(3)) for m in _GREEK_CMD.finditer(text)}
    text = _COMMAND.sub(" ", _GREEK_CMD.sub(" ", text))
    for m in _LETTER.finditer(text):
        sub = m.group(2) or m.group(3)
        if m.group(1) in "ei" and not sub:  # Euler's number, the imaginary unit
            continue
        out.add(_key(m.group(1), sub))
    return out


def _rhs(text: str) -> str:
    """The value an answer states: `x = 2` states 2 (Math-Verify compares right-hand sides too)."""
    return re.split(r"(?<![<>!\\])=|\\in\b", text)[-1]


def malformed_gold(text: str) -> str | None:
    """Why the gold text is malformed, or None."""
    if len(_DOLLAR.findall(text)) % 2:
        return "an unbalanced $ (math delimiter)"
    depth = 0
    for m in re.finditer(r"(?<!\\)[{}]", text):
        depth += 1 if m.group(0) == "{" else -1
        if depth < 0:
            break
    if depth:
        return "unbalanced braces"
    regions = [r for r in _REGION.findall(text) if not r.lstrip().startswith(("^", "_"))]  # `units $^{2}$`
    if len(regions) > 1:
        return f"{len(regions)} math regions (one answer expected; a list gold means any of its elements)"
    body = regions[0] if regions else text
    if _STRAY.search(body):
        return "a stray separator (, or ;)"
    if not _ENV.search(body) and re.search(r"(?<!\\)&|\\\\", body):
        return "a table separator (& or \\\\) outside an environment"
    return None


PERCENT = sympy.UnevaluatedExpr(sympy.Rational(1, 100))


def is_percent(x) -> bool:
    """Math-Verify reads `50\\%` and `$\\boxed{10}$ percent` as 50·UnevaluatedExpr(1/100)."""
    return isinstance(x, sympy.Mul) and PERCENT in x.args


def plain_number(x) -> bool:
    """A number as an answer writes it (197142, -3, 0.5, 1/2, \\frac{5}{7}, 50%), not a computation
    whose value it is (206*957, 2^{10}, 3+4, \\sqrt{4})."""
    if isinstance(x, (sympy.Integer, sympy.Rational, sympy.Float)):
        return True
    if is_percent(x):
        rest = [a for a in x.args if a != PERCENT]
        return len(rest) == 1 and plain_number(rest[0])
    if isinstance(x, sympy.Mul) and len(x.args) == 2:  # a/b as written: Mul(a, Pow(b, -1)), in lowest terms
        whole = [a for a in x.args if isinstance(a, sympy.Integer)]
        over = [a for a in x.args if isinstance(a, sympy.Pow) and a.exp == -1 and isinstance(a.base, sympy.Integer)]
        return (len(whole) == 1 and len(over) == 1 and abs(over[0].base) > 1
                and sympy.gcd(whole[0], over[0].base) == 1)
    return False


_INT_FRAC = re.compile(r"\s*-?\s*\\[dt]?frac\{(\d+)\}\{(\d+)\}\s*")


def _unreduced(parsed) -> bool:
    """`\\frac{394284}{2}`: a fraction not in lowest terms, which the parse already divided."""
    m = _INT_FRAC.fullmatch(_rhs(_text(parsed) or ""))
    return bool(m) and math.gcd(*map(int, m.groups())) > 1


def computation_guard(gold, pred) -> tuple[bool, str] | None:
    """(False, "computation_guard") when a plain-number gold is answered by a numeric expression."""
    g, p = _expr(gold), _expr(pred)
    if g is None or p is None or not plain_number(g):
        return None
    if plain_number(p) and not (_unreduced(pred) and not _unreduced(gold)):
        return None
    try:
        numeric = bool(p.is_number)
    except Exception:  # an odd sympy object: no opinion on it
        return None
    return (False, "computation_guard") if numeric else None


def _expr(parsed) -> sympy.Basic | None:
    return next((x for x in parsed if isinstance(x, sympy.Basic)), None)


def _text(parsed) -> str | None:
    return next((x for x in reversed(parsed) if isinstance(x, str)), None)


def _names(expr: sympy.Basic) -> set[str]:
    return {str(s).replace("{", "").replace("}", "").lower() for s in expr.free_symbols}


def _trusted(expr: sympy.Basic | None, symbols: set[str]) -> bool:
    """The parsed value keeps every symbol the text writes (a number is no value of a symbol)."""
    if expr is None:
        return False
    if not symbols:
        return True
    try:
        return not expr.is_number and symbols <= _names(expr)
    except Exception:  # an odd sympy object: no opinion on it
        return False


def truncated_gold(gold_text: str, parsed) -> str | None:
    """What Math-Verify kept of a gold whose extraction lost symbols of the text (`m_1 g` -> `m_1`)."""
    kept = _text(parsed)
    if kept is None:
        return None
    text = _DOLLAR.sub("", gold_text).strip()
    unit = _UNIT.search(text)  # `40m`, `4.4 m`: a unit Math-Verify drops on purpose (not `m_1 g`)
    if unit and not _ENDS_IN_SUBSCRIPT.search(text[:unit.start()]):
        text = text[:unit.start()]
    lost = text_symbols(_rhs(text)) - text_symbols(_rhs(kept))
    return kept if lost else None


def _same_text(a: str, b: str) -> bool:
    def norm(t: str) -> str:
        t = re.sub(r"\\[dt]frac", r"\\frac", _rhs(t))
        t = re.sub(r"_\{(\w)\}", r"_\1", t)
        return re.sub(r"\s+|\\[,;!]|\\left|\\right", "", t)
    return norm(a) == norm(b)


def symbol_guard(gold, pred) -> tuple[bool, str] | None:
    """(equal, "symbol_guard") when the symbol rule decides, else None (Math-Verify judges)."""
    g_text, p_text = _text(gold), _text(pred)
    if g_text is None or p_text is None:
        return None
    g_syms, p_syms = text_symbols(_rhs(g_text)), text_symbols(_rhs(p_text))
    g_expr, p_expr = _expr(gold), _expr(pred)
    g_ok, p_ok = _trusted(g_expr, g_syms), _trusted(p_expr, p_syms)
    g_number = g_ok and not g_syms and bool(g_expr.is_number)
    p_number = p_ok and not p_syms and bool(p_expr.is_number)
    if (g_syms and p_number) or (p_syms and g_number):
        return False, "symbol_guard"
    if (g_syms or p_syms) and not (g_ok and p_ok):  # a value lost symbols: only the text can tell
        return _same_text(g_text, p_text), "symbol_guard"
    return None
