"""Code benchmarks as `code` verifier golds: HumanEval, MBPP (full / sanitized), MBPP+ (EvalPlus).

Each reader yields dicts {"task_id", "prompt", "solution" (the canonical program), "gold"}; the
golds are in the format documented in code.py, so a row is one `mmrl verify --batch` line away.
"""
from __future__ import annotations

import ast
import gzip
import json
import re
import warnings
from pathlib import Path
from typing import Any, Iterator


def humaneval(path: str | Path) -> Iterator[dict[str, Any]]:
    """HumanEval.jsonl(.gz): the program is prompt + body; `test` defines check(candidate)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            yield {"task_id": row["task_id"], "prompt": row["prompt"], "entry_point": row["entry_point"],
                   "solution": row["prompt"] + row["canonical_solution"],
                   "gold": {"mode": "assert", "setup": row["test"], "tests": [], "entry_point": row["entry_point"]}}


def mbpp(path: str | Path, task_ids: range | None = range(11, 511)) -> Iterator[dict[str, Any]]:
    """mbpp.jsonl (default: the test split, task_id 11-510) or sanitized-mbpp.json."""
    text = Path(path).read_text(encoding="utf-8")
    rows = json.loads(text) if str(path).endswith(".json") else [json.loads(l) for l in text.splitlines() if l.strip()]
    for row in rows:
        if task_ids is not None and row["task_id"] not in task_ids:
            continue
        setup = row.get("test_setup_code") or "\n".join(row.get("test_imports") or [])
        yield {"task_id": row["task_id"], "prompt": row.get("text") or row.get("prompt"),
               "entry_point": entry_point(row["code"], row["test_list"]), "solution": row["code"],
               "gold": {"mode": "assert", "tests": list(row["test_list"]), "setup": setup}}


def mbpp_plus(path: str | Path) -> Iterator[dict[str, Any]]:
    """MbppPlus.jsonl: `gold` = the base asserts; `base_input` / `plus_input` are argument lists
    whose expected outputs EvalPlus takes from the canonical solution (see call_gold)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            asserts = [l for l in row["assertion"].splitlines() if l.strip()]
            yield {"task_id": row["task_id"], "prompt": row["prompt"], "entry_point": row["entry_point"],
                   "solution": row["canonical_solution"], "base_input": row["base_input"],
                   "plus_input": row["plus_input"] or [], "atol": float(row["atol"] or 0),  # Mbpp/793: {}
                   "gold": {"mode": "assert", "tests": asserts, "setup": "import math"}}  # asserts use math.isclose


def call_gold(fn_name: str, inputs: list[list[Any]], outputs: list[Any], atol: float = 0.0) -> dict[str, Any]:
    gold = {"mode": "call", "fn_name": fn_name,
            "tests": [{"input": list(args), "output": json.dumps(out)} for args, out in zip(inputs, outputs)]}
    if atol:
        gold["float_tol"] = {"abs": atol}
    return gold


def entry_point(code: str, tests: list[str]) -> str | None:
    """The function the tests call: the first top-level function of `code` named in the tests."""
    try:
        with warnings.catch_warnings():  # MBPP code has invalid escape sequences
            warnings.simplefilter("ignore")
            names = [n.name for n in ast.parse(code).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    except SyntaxError:
        return None
    called = re.findall(r"\b(\w+)\s*\(", " ".join(tests))
    return next((c for c in called if c in names), names[-1] if names else None)


# A solution that runs but is wrong: the entry point's result is perturbed on every call.
WRONG_WRAPPER = """

def _mmrl_perturb(r):
    if isinstance(r, bool): return not r
    if isinstance(r, (int, float)): return r + 1
    if isinstance(r, str): return r + "x"
    if isinstance(r, (list, tuple)): return type(r)([*r, None])
    if isinstance(r, (set, dict)): return type(r)() if r else {None: None}
    return 0 if r is None else None

_mmrl_original = NAME
def NAME(*args, **kwargs):
    return _mmrl_perturb(_mmrl_original(*args, **kwargs))
"""


def wrong_solution(solution: str, name: str) -> str:
    return solution + WRONG_WRAPPER.replace("NAME", name)
