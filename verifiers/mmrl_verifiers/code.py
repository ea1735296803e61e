"""The code verifier (verifiers.md §3.4): runs the response's program against tests in the sandbox.

gold (a dict, or its JSON text):
    {"mode": "stdio",  "tests": [{"input": "2 3\\n", "output": "5\\n"}, ...]}
    {"mode": "call",   "fn_name": "add", "tests": [{"input": "2\\n3" or [2, 3], "output": "5" or 5}, ...]}
    {"mode": "assert", "tests": ["assert add(2, 3) == 5", ...], "setup": "import math",
                       "entry_point": "add"}   # entry_point adds the test `check(add)` (HumanEval)
  optional: "float_tol": {"abs": 1e-6, "rel": 1e-6}, "case_insensitive": true, "time_limit_s": 2,
            per test "public": true (always kept when tests are capped).
options: reward_mode "binary" (1 iff all pass, default) | "fraction" (passed / total);
  require_fence (False: no ```python block means the whole response is the program);
  max_tests (32; None = all); memory_mb (2048); sandbox_mode ("bwrap" | "unsafe-rlimits-only");
  forbid_patterns (False: suspicious patterns are only listed in info["flags"]);
  (declared in contract.py) and the pool's finish_reason / allow_truncated (truncated scores 0).
parts: "test_<i>" (1 pass / 0 fail, in gold order), "passed", "total", "accuracy".
"""
from __future__ import annotations

import ast
import json
import math
import re
import secrets
import sys
import warnings
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable

from .sandbox import MODES as SANDBOX_MODES, Limits, RunResult, SandboxError, run_sandboxed
from .verdict import Verdict

MODES = ("stdio", "call", "assert")
MAX_SOURCE_BYTES = 64 << 10
MAX_WALL_S = 120.0  # per sandbox run, whatever the number of tests
DRIVER = Path(__file__).with_name("code_driver.py")
# -s -P (no user site, no script dir on sys.path) rather than -I, because -I would also ignore
# PYTHONHASHSEED=0 and make set/dict orders differ between runs. -S skips site's .pth processing
# (~40 ms a run); the venv's packages stay importable. The sandbox sets the whole environment.
SITE_DIRS = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
PYTHON = [sys.executable, "-s", "-P", "-S", "-c", f"import sys, site; site.setquit(); sys.path += {SITE_DIRS!r}; sys.argv = sys.argv[1:]; "
          "__file__ = sys.argv[0]; exec(compile(open(__file__).read(), __file__, 'exec'))"]
FENCE = re.compile(r"```[ \t]*([^\n`]*)\n(.*?)(?:```|\Z)", re.DOTALL)
PY_TAGS = {"", "python", "py", "python3"}
# Logged (and optionally zeroed) because they can beat in-process checks (verifiers.md §3.4.5).
SUSPICIOUS = {"sys.exit": r"\bsys\.exit\b|\bexit\(|\bquit\(", "os._exit": r"\bos\._exit\b",
              "__eq__": r"def\s+__eq__", "frame access": r"_getframe|f_back|f_locals|\binspect\b",
              "gc introspection": r"\bgc\.get_(referrers|objects)", "builtins": r"\bbuiltins\b",
              "__file__": r"__file__", "results file": r"_results\.jsonl|_driver\.py"}


class GoldError(ValueError):
    pass


@dataclass
class Gold:
    mode: str
    tests: list[Any]
    fn_name: str | None = None
    setup: str = ""
    float_tol: dict[str, float] | None = None
    case_insensitive: bool = False
    time_limit_s: float | None = None


@dataclass
class Outcome:
    passed: bool
    status: str   # ok | wrong | runtime_error | timeout | resource_limit
    reason: str = ""


# --- extraction and gold ------------------------------------------------------------------------

def extract_code(response: str, require_fence: bool = False) -> str | None:
    """The last fenced block tagged python (or untagged); else the whole text unless a fence is required."""
    blocks = [body for tag, body in FENCE.findall(response) if tag.strip().lower() in PY_TAGS]
    if blocks:
        return blocks[-1]
    return None if require_fence else response


def parse_gold(gold: Any) -> Gold:
    if isinstance(gold, str):
        try:
            gold = json.loads(gold)
        except json.JSONDecodeError as e:
            raise GoldError(f"gold is a string but not JSON ({e.msg})") from None
    if not isinstance(gold, dict):
        raise GoldError(f"gold must be a dict with 'mode' and 'tests', got {type(gold).__name__}")
    mode = gold.get("mode")
    if mode not in MODES:
        raise GoldError(f"gold 'mode' must be one of {', '.join(MODES)}, got {mode!r}")
    tests = gold.get("tests", [])
    if not isinstance(tests, list):
        raise GoldError("gold 'tests' must be a list")
    fn_name = gold.get("fn_name") or gold.get("entry_point")
    setup = gold.get("setup") or ""
    if mode == "stdio":
        if not all(isinstance(t, dict) and isinstance(t.get("input"), str) and isinstance(t.get("output"), str)
                   for t in tests):
            raise GoldError("stdio tests must be {'input': str, 'output': str}")
    elif mode == "call":
        if not isinstance(fn_name, str):
            raise GoldError("call tests need gold 'fn_name'")
        tests = [_call_test(t, i) for i, t in enumerate(tests)]
    else:
        if not all(isinstance(t, str) for t in tests):
            raise GoldError("assert tests must be Python source strings")
        if gold.get("entry_point"):
            tests = [*tests, f"check({gold['entry_point']})"]
    if not tests:
        raise GoldError("gold has no tests")
    tol = gold.get("float_tol")
    if tol is not None and not (isinstance(tol, dict) and set(tol) <= {"abs", "rel"}):
        raise GoldError("gold 'float_tol' must be {'abs': x, 'rel': y}")
    return Gold(mode, tests, fn_name, setup, tol, bool(gold.get("case_insensitive")), gold.get("time_limit_s"))


def _call_test(test: Any, i: int) -> dict[str, Any]:
    if not isinstance(test, dict) or "input" not in test or "output" not in test:
        raise GoldError(f"call test {i} must be {{'input': ..., 'output': ...}}")
    args, expected = test["input"], test["output"]
    try:
        if isinstance(args, str):  # LiveCodeBench functional format: one JSON value per line
            args = [json.loads(line) for line in args.splitlines() if line.strip()]
        if isinstance(expected, str):
            expected = json.loads(expected)
    except json.JSONDecodeError as e:
        raise GoldError(f"call test {i}: input/output is not JSON ({e.msg})") from None
    if not isinstance(args, list):
        raise GoldError(f"call test {i}: input must be a list of arguments")
    return {"args": args, "output": expected, "public": bool(test.get("public"))}


def select_tests(tests: list[Any], max_tests: int | None) -> list[int]:
    """Indices of the tests to run: all public ones, then the longest inputs, up to max_tests."""
    if max_tests is None or len(tests) <= max_tests:
        return list(range(len(tests)))
    size = lambda i: len(json.dumps(tests[i]) if not isinstance(tests[i], str) else tests[i])
    public = [i for i, t in enumerate(tests) if isinstance(t, dict) and t.get("public")]
    rest = sorted((i for i in range(len(tests)) if i not in public), key=lambda i: (-size(i), i))
    return sorted((public + rest)[:max(max_tests, len(public))])


# --- comparison ---------------------------------------------------------------------------------

def stdout_equal(actual: str, expected: str, float_tol: dict[str, float] | None = None,
                 case_insensitive: bool = False) -> bool:
    """Line-wise comparison with per-token exact-Decimal (or float-tolerance) equality (§3.4)."""
    if case_insensitive:
        actual, expected = actual.lower(), expected.lower()
    a_lines = [line.rstrip() for line in actual.strip().split("\n")]
    e_lines = [line.rstrip() for line in expected.strip().split("\n")]
    if len(a_lines) != len(e_lines):
        return False
    for a, e in zip(a_lines, e_lines):
        if a == e:
            continue
        a_tok, e_tok = a.split(), e.split()
        if len(a_tok) != len(e_tok) or not all(_token_equal(x, y, float_tol) for x, y in zip(a_tok, e_tok)):
            return False
    return True


def _token_equal(a: str, b: str, float_tol: dict[str, float] | None) -> bool:
    if a == b:
        return True
    try:
        if Decimal(a) == Decimal(b):
            return True
    except InvalidOperation:
        return False
    if float_tol:
        x, y = float(a), float(b)
        return math.isfinite(x) and math.isfinite(y) and _close(x, y, float_tol)
    return False


def _close(x: float, y: float, tol: dict[str, float]) -> bool:
    return abs(x - y) <= max(tol.get("abs", 0.0), tol.get("rel", 0.0) * abs(y))


def json_equal(got: Any, want: Any, float_tol: dict[str, float] | None = None) -> bool:
    """Equality of parsed JSON values: numbers numerically (1 == 1.0, bools are not numbers)."""
    if isinstance(got, bool) or isinstance(want, bool):
        return type(got) is type(want) and got == want
    if isinstance(got, (int, float)) and isinstance(want, (int, float)):
        if got == want or (got != got and want != want):  # NaN matches NaN
            return True
        return bool(float_tol) and math.isfinite(got) and math.isfinite(want) and _close(got, want, float_tol)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(json_equal(g, w, float_tol) for g, w in zip(got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(json_equal(got[k], want[k], float_tol) for k in got)
    return type(got) is type(want) and got == want


# --- running ------------------------------------------------------------------------------------

def _per_test_s(gold: Gold) -> float:
    t = gold.time_limit_s
    return 4.0 if not t else min(max(2.0 * float(t), 2.0), 10.0)


def _limits(per_test_s: float, n_tests: int, memory_mb: int) -> Limits:
    """CPU time is the per-test budget (steady under load); the wall clock, twice that plus start-up
    and capped, only catches programs that wait instead of compute."""
    return Limits(wall_s=min(2 * n_tests * per_test_s + 2, MAX_WALL_S), cpu_s=n_tests * per_test_s + 1,
                  memory_mb=memory_mb)


def _failure(res: RunResult) -> Outcome | None:
    """The outcome of a run that did not finish normally, or None."""
    if res.timed_out:
        return Outcome(False, "timeout", f"no result within {res.wall_s:.1f} s (wall clock)")
    if res.limit_hit == "cpu":
        return Outcome(False, "timeout", f"CPU time limit exceeded ({res.wall_s:.1f} s wall)")
    if res.limit_hit:
        return Outcome(False, "resource_limit", f"{res.limit_hit} limit exceeded")
    if res.exit_code != 0:
        code = res.exit_code
        tail = res.stderr.strip().splitlines()[-1:] or [f"killed by signal {code - 128}" if code > 128 else f"exit code {code}"]
        return Outcome(False, "runtime_error", tail[0][:300])
    return None


def run_stdio(source: str, gold: Gold, selected: list[int], per_test_s: float, memory_mb: int, mode: str,
              stop_early: bool) -> dict[int, Outcome]:
    outcomes = {}
    limits = _limits(per_test_s, 1, memory_mb)
    for i in selected:
        test = gold.tests[i]
        res = run_sandboxed([*PYTHON, "main.py"], files={"main.py": source},
                            stdin=test["input"], limits=limits, mode=mode)
        outcome = _failure(res) or (
            Outcome(True, "ok") if stdout_equal(res.stdout, test["output"], gold.float_tol, gold.case_insensitive)
            else Outcome(False, "wrong", f"stdout differs: got {res.stdout[:80]!r}"))
        outcomes[i] = outcome
        if stop_early and not outcome.passed:
            break
    return outcomes


def run_driver(source: str, gold: Gold, selected: list[int], per_test_s: float, memory_mb: int, mode: str,
               stop_early: bool) -> dict[int, Outcome]:
    """call / assert: one sandbox run of the trusted driver over all selected tests."""
    tests = [gold.tests[i]["args"] if gold.mode == "call" else gold.tests[i] for i in selected]
    records, res = driver_records(source, gold.mode, tests, gold.fn_name, gold.setup, per_test_s, memory_mb,
                                  mode, stop_early)
    crash = _failure(res) if "done" not in records else None
    outcomes = {}
    for k, i in enumerate(selected):
        rec = records.get(k) or (records.get(-1) and {**records[-1], "at_load": True})
        if rec is None:
            outcomes[i] = crash or Outcome(False, "runtime_error", "the program ended before this test ran")
        elif not rec.get("ok"):
            outcomes[i] = _error_outcome(str(rec.get("error", "")), rec.get("at_load", False))
        elif gold.mode == "call" and not json_equal(rec.get("result"), gold.tests[i]["output"], gold.float_tol):
            outcomes[i] = Outcome(False, "wrong", f"returned {json.dumps(rec.get('result'))[:80]}")
        else:
            outcomes[i] = Outcome(True, "ok")
        if stop_early and not outcomes[i].passed:
            break
    return outcomes


def driver_records(source: str, mode: str, tests: list[Any], fn_name: str | None = None, setup: str = "",
                   per_test_s: float = 4.0, memory_mb: int = 2048, sandbox_mode: str = "bwrap",
                   stop_early: bool = False) -> tuple[dict[Any, dict], RunResult]:
    """Run the driver once; its records by test index (-1: loading failed, "done": it finished).
    With mode "call" the records hold the results, e.g. to make a call gold from a reference solution."""
    nonce = secrets.token_hex(16)
    job = {"nonce": nonce, "mode": mode, "fn_name": fn_name, "setup": setup, "tests": tests,
           "per_test_s": per_test_s, "stop_at_first_failure": stop_early}
    res = run_sandboxed([*PYTHON, "_driver.py"], files={"_driver.py": DRIVER.read_bytes(), "solution.py": source},
                        stdin=json.dumps(job), limits=_limits(per_test_s, len(tests), memory_mb),
                        mode=sandbox_mode, collect=["_results.jsonl"])
    records: dict[Any, dict] = {}
    for line in res.files.get("_results.jsonl", b"").decode(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and rec.get("nonce") == nonce:  # forged lines lack the nonce
            records.setdefault(rec.get("i"), rec)
    return records, res


def _error_outcome(error: str, at_load: bool) -> Outcome:
    where = "while loading the program: " if at_load else ""
    if error == "timeout":
        return Outcome(False, "timeout", f"{where}test exceeded its CPU time limit")
    if error.startswith("MemoryError"):
        return Outcome(False, "resource_limit", f"{where}memory limit exceeded")
    if error.startswith(("AssertionError", "result is not JSON")):
        return Outcome(False, "wrong", f"{where}{error}")
    return Outcome(False, "runtime_error", f"{where}{error}")


RUNNERS: dict[str, Callable[..., dict[int, Outcome]]] = {"stdio": run_stdio, "call": run_driver,
                                                         "assert": run_driver}


# --- the verifier -------------------------------------------------------------------------------

def verify_code(response: str, gold: Any, reward_mode: str = "binary", require_fence: bool = False,
                max_tests: int | None = 32, memory_mb: int = 2048, sandbox_mode: str = "bwrap",
                forbid_patterns: bool = False, truncated: bool = False) -> Verdict:
    if reward_mode not in ("binary", "fraction"):
        return Verdict.unjudged("infra_error", f"reward_mode must be 'binary' or 'fraction', got {reward_mode!r}")
    if sandbox_mode not in SANDBOX_MODES:
        return Verdict.unjudged("infra_error", f"sandbox_mode must be one of {', '.join(SANDBOX_MODES)}, got {sandbox_mode!r}")
    try:
        g = parse_gold(gold)
    except GoldError as e:
        return Verdict.unjudged("gold_error", str(e))
    if truncated:  # the pool's rule: finish_reason=length and not allow_truncated
        return Verdict.fail("format_error", "the generation was truncated (finish_reason=length)", accuracy=0.0)
    source = extract_code(response, require_fence)
    if source is None:
        return Verdict.fail("format_error", "no ```python code block in the response", accuracy=0.0)
    if len(source.encode()) > MAX_SOURCE_BYTES:
        return Verdict.fail("format_error", f"program of {len(source.encode())} bytes exceeds 64 KiB", accuracy=0.0)
    flags = sorted(name for name, pattern in SUSPICIOUS.items() if re.search(pattern, source))
    if forbid_patterns and flags:
        return _verdict(Verdict.fail("wrong", f"forbidden pattern(s): {', '.join(flags)}", accuracy=0.0), source, flags)
    try:
        with warnings.catch_warnings():  # e.g. invalid escape sequences: the program's business
            warnings.simplefilter("ignore")
            ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        where = f" (line {e.lineno})" if getattr(e, "lineno", None) else ""
        return _verdict(Verdict.fail("compile_error", f"{type(e).__name__}: {getattr(e, 'msg', e)}{where}",
                                     accuracy=0.0), source, flags)
    selected = select_tests(g.tests, max_tests)
    try:
        outcomes = RUNNERS[g.mode](source, g, selected, _per_test_s(g), memory_mb, sandbox_mode,
                                   reward_mode == "binary")
    except SandboxError as e:
        return Verdict.unjudged("infra_error", str(e))
    return _verdict(_score(outcomes, selected, reward_mode), source, flags)


def _score(outcomes: dict[int, Outcome], selected: list[int], reward_mode: str) -> Verdict:
    passed = sum(o.passed for o in outcomes.values())
    total = len(selected)
    parts = {f"test_{i}": float(o.passed) for i, o in outcomes.items()}
    accuracy = float(passed == total) if reward_mode == "binary" else passed / total
    parts.update(passed=float(passed), total=float(total), accuracy=accuracy)
    first_fail = next((i for i in selected if i in outcomes and not outcomes[i].passed), None)
    if first_fail is None:
        return Verdict(accuracy, parts, "ok", f"all {total} tests passed")
    o = outcomes[first_fail]
    return Verdict(accuracy, parts, o.status, f"test {first_fail}: {o.reason} ({passed}/{total} passed)")


def _verdict(v: Verdict, source: str, flags: list[str]) -> Verdict:
    v.extracted = source[:512]
    v.info["flags"] = flags
    return v
