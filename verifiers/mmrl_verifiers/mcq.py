"""Multiple-choice verifier (verifiers.md §2.3): a strict option-letter extractor.

A response that names several letters without committing to one (a hedge) scores 0, and there is
no nearest-option fallback (MathVista's Levenshtein pick turns any garbage into a 1/k lottery).

Options: choices (list of option texts), letters (default "ABCDE" cut to len(choices)),
think_mode ("auto"), answer_tag (None; "answer" grades the <answer> body), preset ("default" =
0.9·accuracy + 0.1·format); declared in contract.py. `truncated` comes from the pool.
"""
from __future__ import annotations

import re

from .format import PRESETS, answer_region, boxed_contents, check_format, compose
from .verdict import Verdict

MAX_REGION_CHARS = 300
_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm)\{([^{}]*)\}")
_CANDIDATE = re.compile(r"(?<![A-Za-z])\(?([A-Z])\)?(?![A-Za-z])")
# Rule b. "option"/"choice" need "is" or ":" so that "Option A fails because…" is not a claim.
_KEYWORD = re.compile(r"(?i)(?:answer\s*(?:is|:)?|(?:option|choice)\s*(?:is|:))\s*:?\s*\(?([a-z])\)?(?=[\s.,:;)]|$)")
_SENTENCE_END = re.compile(r"[.!?;](?=\s|$)|\n")
_LEADING = re.compile(r"\(?([A-Z])\)?[.):]\s")


def _last_box(text: str) -> str | None:
    boxes = [b for b in boxed_contents(text) if b is not None]
    return boxes[-1] if boxes else None


def _normalise(region: str) -> str:
    previous = None
    while previous != region:  # nested wrappers: \text{\textbf{C}}
        previous, region = region, _WRAPPER.sub(r"\1", region)
    return region.replace("**", "").replace("$", "").strip()


def extract_letter(region: str, letters: str, choices: list[str] | None = None) -> tuple[str | None, str]:
    """(letter, rule that fired) or (None, why not), rules a–f of §2.3."""
    r = _normalise(region)
    bare = re.sub(r"[()\[\].:\s]", "", r)
    if len(bare) == 1 and bare.upper() in letters:
        return bare.upper(), "a"
    keyword = None
    for keyword in _KEYWORD.finditer(r):
        pass
    if keyword and keyword.group(1).upper() in letters:
        x = keyword.group(1).upper()
        end = _SENTENCE_END.search(r, keyword.end())
        tail = r[keyword.end():end.start() if end else len(r)]
        if not {c for c in _CANDIDATE.findall(tail) if c in letters and c != x}:
            return x, "b"
    lead = _LEADING.match(r)
    if lead and lead.group(1) in letters:
        return lead.group(1), "c"
    choices = list(choices or [])[:len(letters)]
    hit = _text_hit(r, choices)  # rule e's text part comes before d: "sample A" may be option B
    if hit is not None:
        return letters[hit], "e"
    candidates = sorted({c for c in _CANDIDATE.findall(r) if c in letters})
    if len(candidates) == 1:
        return candidates[0], "d"
    hit = _value_hit(r, choices)
    if hit is not None:
        return letters[hit], "e"
    if len(candidates) > 1:
        return None, f"hedged between {', '.join(candidates)}"
    return None, "no option letter found"


def _text_hit(region: str, choices: list) -> int | None:
    """Rule e, text: the index of the one choice whose text the region is."""
    text = " ".join(region.lower().split())
    hits = [i for i, c in enumerate(choices) if " ".join(str(c).lower().split()) == text]
    return hits[0] if len(hits) == 1 else None


def _value_hit(region: str, choices: list) -> int | None:
    """Rule e, value: the index of the one choice whose Math-Verify value the region has."""
    if not choices or not any(ch.isdigit() for ch in region):
        return None
    from .math import PRED_CONFIG, parse, parse_gold, same_answer  # sympy only when needed
    pred = parse(region, PRED_CONFIG, parsing_timeout=None)
    hits = [i for i, c in enumerate(choices)
            if pred and parse_gold(str(c)) and same_answer(parse_gold(str(c)), pred)[0]]
    return hits[0] if len(hits) == 1 else None


def gold_letter(gold, letters: str, choices: list[str] | None) -> str | None:
    """The gold as a letter: the text of exactly one choice (MathVista golds are option texts, some
    of them letter-like such as '(b)'), else 'C' / '(C)'."""
    text = str(gold if gold is not None else "").strip()
    hits = [letters[i] for i, c in enumerate((choices or [])[:len(letters)]) if str(c).strip() == text]
    if len(hits) == 1:
        return hits[0]
    bare = re.sub(r"[()\[\].:\s]", "", _normalise(text)).upper()
    return bare if len(bare) == 1 and bare in letters else None


def verify_mcq(response: str, gold, choices: list[str] | None = None, letters: str | None = None,
               think_mode: str = "auto", answer_tag: str | None = None, truncated: bool = False,
               preset: str = "default") -> Verdict:
    """Option letter vs gold letter, strict (hedges score 0); 0.9·accuracy + 0.1·format."""
    letters = (letters or "ABCDEFGHIJ"[:len(choices)] if choices else letters or "ABCDE").upper()
    if preset not in PRESETS:
        return Verdict.unjudged("infra_error", f"mcq: unknown reward preset {preset!r}; known: {', '.join(PRESETS)}")
    gold_x = gold_letter(gold, letters, choices)
    if gold_x is None:
        return Verdict.unjudged("gold_error", f"gold {str(gold)[:80]!r} is not one of the letters {letters}"
                                              " or exactly one choice's text")
    try:
        problem = check_format(response, think_mode, answer_tag)
    except ValueError as e:
        return Verdict.unjudged("infra_error", f"mcq: {e}")
    fmt = 0.0 if problem else 1.0

    def result(status: str, reason: str, accuracy: float = 0.0, extracted: str | None = None) -> Verdict:
        return Verdict(compose(accuracy, fmt, preset), {"accuracy": accuracy, "format": fmt}, status, reason, extracted)

    if think_mode == "required" and problem:
        return result("format_error", problem)
    if truncated:  # the pool's rule: finish_reason=length and not allow_truncated
        return result("wrong", "truncated generation (finish_reason=length)")
    region = answer_region(response, think_mode, answer_tag)
    if region is None:
        return result("parse_error", f"no <{answer_tag}> answer")
    if not answer_tag:
        region = _last_box(region[-4 * MAX_REGION_CHARS:]) or region
    letter, why = extract_letter(region[-MAX_REGION_CHARS:], letters, choices)
    if letter is None:
        return result("parse_error", why)
    if letter == gold_x:
        return result("ok", f"rule {why}", 1.0, letter)
    return result("wrong", f"{letter} != {gold_x} (rule {why})", 0.0, letter)
