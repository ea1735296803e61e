"""The code verifier: extraction, gold formats, output comparison and scoring (verifiers.md §3.4-3.5)."""
import json

import pytest

from mmrl_verifiers import VerifierPool, verify
from mmrl_verifiers.code import extract_code, json_equal, parse_gold, select_tests, stdout_equal, GoldError
from mmrl_verifiers.jsonl import verify_jsonl

ADD_STDIN = "a, b = map(int, input().split())\nprint(a + b)\n"
STDIO = {"mode": "stdio", "tests": [{"input": "2 3\n", "output": "5\n"}, {"input": "10 -4", "output": "6"}]}


def fenced(code: str, tag: str = "python") -> str:
    return f"Here is my solution.\n```{tag}\n{code}```\nDone."


# --- output comparison (C15-C20) ----------------------------------------------------------------

@pytest.mark.parametrize("actual, expected, kwargs, equal", [
    ("5  \n\n", "5\n", {}, True),                                    # C15 trailing space / blank lines
    ("1 2\n3\n", "1 2 3", {}, False),                                # C16 line structure
    ("1.0\n", "1", {}, True),                                        # C17 Decimal equality
    ("0.3333333", "0.333333333", {}, False),                         # C18 exact by default
    ("0.3333333", "0.333333333", {"float_tol": {"rel": 1e-6}}, True),
    ("YES", "yes", {}, False),                                       # C19
    ("YES", "yes", {"case_insensitive": True}, True),
    ("50000000000000001", "50000000000000000", {}, False),           # C20 np.allclose would say equal
    ("1\r\n2\r\n", "1\n2", {}, True),
    ("a  b", "a b", {}, True),
    ("nan", "nan", {"float_tol": {"abs": 1}}, True),
    ("inf", "1e308", {"float_tol": {"rel": 1}}, False),
])
def test_stdout_equal(actual, expected, kwargs, equal):
    assert stdout_equal(actual, expected, **kwargs) is equal


@pytest.mark.parametrize("got, want, tol, equal", [
    (1, 1.0, None, True), (True, 1, None, False), ([1, [2, "a"]], [1, [2, "a"]], None, True),
    ([1, 2], [1, 2, 3], None, False), ({"a": 1}, {"a": 1.0}, None, True), ({"a": 1}, {"b": 1}, None, False),
    (0.1 + 0.2, 0.3, None, False), (0.1 + 0.2, 0.3, {"abs": 1e-9}, True), (None, None, None, True),
    ("1", 1, None, False),
])
def test_json_equal(got, want, tol, equal):
    assert json_equal(got, want, tol) is equal


# --- extraction and gold ------------------------------------------------------------------------

def test_extracts_the_last_python_block():
    text = "```python\nprint(1)\n```\nbetter:\n```cpp\nint x;\n```\n```py\nprint(2)\n```\ntrailing"
    assert extract_code(text) == "print(2)\n"
    assert extract_code("no fence, just code") == "no fence, just code"
    assert extract_code("no fence", require_fence=True) is None
    assert extract_code("```python\nprint(3)\n") == "print(3)\n"  # unclosed (truncated) block


@pytest.mark.parametrize("gold, message", [
    ({"tests": []}, "mode"), ({"mode": "stdio", "tests": []}, "no tests"),
    ({"mode": "stdio", "tests": [{"input": 1, "output": "2"}]}, "stdio tests"),
    ({"mode": "call", "tests": [{"input": "1", "output": "2"}]}, "fn_name"),
    ({"mode": "call", "fn_name": "f", "tests": [{"input": "1", "output": "not json"}]}, "call test 0"),
    ({"mode": "assert", "tests": [3]}, "assert tests"), ("{broken", "not JSON"), ([1], "must be a dict"),
    ({"mode": "stdio", "tests": [{"input": "", "output": ""}], "float_tol": 0.1}, "float_tol"),
])
def test_bad_gold_is_unjudged_with_a_reason(gold, message):
    with pytest.raises(GoldError, match=message):
        parse_gold(gold)
    v = verify("code", "print(1)", gold)
    assert v.score is None and v.status == "gold_error" and message in v.reason


def test_select_tests_keeps_public_then_longest():
    tests = [{"input": "x" * n, "output": "", "public": n == 1} for n in (1, 5, 3, 9, 2)]
    assert select_tests(tests, 3) == [0, 1, 3]
    assert select_tests(tests, None) == [0, 1, 2, 3, 4]


# --- scoring on the real sandbox ----------------------------------------------------------------

def test_stdio_pass_and_fail():  # C1, C2
    v = verify("code", fenced(ADD_STDIN), STDIO)
    assert (v.score, v.status) == (1.0, "ok") and v.parts["test_0"] == v.parts["test_1"] == 1.0
    v = verify("code", fenced(ADD_STDIN), {"mode": "stdio", "tests": [{"input": "2 3", "output": "6"}]})
    assert (v.score, v.status) == (0.0, "wrong") and "got '5\\n'" in v.reason


def test_call_mode_compares_json_in_the_parent():
    gold = {"mode": "call", "fn_name": "add", "tests": [{"input": "2\n3", "output": "5"},
                                                       {"input": [[1, 2], [3]], "output": [1, 2, 3]}]}
    assert verify("code", fenced("def add(a, b):\n    return a + b\n"), gold).score == 1.0
    v = verify("code", fenced("def add(a, b):\n    return (a, b)\n"), gold)
    assert v.score == 0.0 and v.status == "wrong"


def test_call_mode_uses_a_solution_class():
    gold = {"mode": "call", "fn_name": "twoSum", "tests": [{"input": "[2,7,11]\n9", "output": "[0,1]"}]}
    src = "class Solution:\n    def twoSum(self, nums, target):\n        return (0, 1)\n"  # tuple -> list
    assert verify("code", fenced(src), gold).score == 1.0


def test_assert_mode_with_setup_and_entry_point():
    gold = {"mode": "assert", "setup": "import math\ndef check(f):\n    assert f(16) == math.sqrt(16)\n",
            "tests": ["assert root(9) == 3"], "entry_point": "root"}
    assert verify("code", fenced("def root(x):\n    return x ** 0.5\n"), gold).score == 1.0
    v = verify("code", fenced("def root(x):\n    return x / 3\n"), gold, reward_mode="fraction")
    assert v.parts["test_0"] == 1.0 and v.parts["test_1"] == 0.0 and v.score == 0.5


def test_binary_stops_at_first_failure_fraction_runs_all():  # C22
    tests = [f"assert f({i}) == {i}" for i in range(20)]
    src = fenced("def f(x):\n    return -1 if x == 6 else x\n")
    v = verify("code", src, {"mode": "assert", "tests": tests})
    assert v.score == 0.0 and v.parts["passed"] == 6 and "test_7" not in v.parts and "test 6" in v.reason
    v = verify("code", src, {"mode": "assert", "tests": tests}, reward_mode="fraction")
    assert v.score == pytest.approx(0.95) and v.parts["total"] == 20


def test_no_fence_when_required_is_a_format_error():  # C21
    v = verify("code", "I think the answer is to add them.", STDIO, require_fence=True)
    assert (v.score, v.status) == (0.0, "format_error")


def test_truncated_generation_scores_zero_unless_allowed():
    v = verify("code", fenced(ADD_STDIN), STDIO, finish_reason="length")
    assert (v.score, v.status) == (0.0, "format_error")
    assert verify("code", fenced(ADD_STDIN), STDIO, finish_reason="length", allow_truncated=True).score == 1.0


def test_compile_error_is_reported_as_such_without_running():
    v = verify("code", fenced("def f(:\n    pass\n"), STDIO)
    assert (v.score, v.status) == (0.0, "compile_error") and "SyntaxError" in v.reason


def test_oversized_program_is_a_format_error():
    v = verify("code", fenced("x = 1\n" * 20000), STDIO)
    assert v.status == "format_error" and "64 KiB" in v.reason


def test_runtime_error_and_timeout_statuses():
    v = verify("code", fenced("raise ValueError('nope')\n"), STDIO)
    assert (v.score, v.status) == (0.0, "runtime_error") and "ValueError: nope" in v.reason
    v = verify("code", fenced("import time\ntime.sleep(60)\n"), {**STDIO, "time_limit_s": 0.5})  # wall 2 s
    assert (v.score, v.status) == (0.0, "timeout")


def test_exit_builtin_still_works_in_stdio_programs():
    v = verify("code", fenced("print(5)\nexit(0)\nprint(6)\n"), {"mode": "stdio", "tests": [{"input": "", "output": "5"}]})
    assert v.score == 1.0


def test_sandbox_unavailable_is_unjudged(monkeypatch):
    from mmrl_verifiers import sandbox
    monkeypatch.setattr(sandbox, "_bwrap_problem", lambda: "no user namespaces")
    v = verify("code", fenced(ADD_STDIN), STDIO)
    assert v.score is None and v.status == "infra_error" and "unsafe-rlimits-only" in v.reason
    assert verify("code", fenced(ADD_STDIN), STDIO, sandbox_mode="unsafe-rlimits-only").score == 1.0


@pytest.mark.parametrize("option, value", [("reward_mode", "partial"), ("sandbox_mode", "docker")])
def test_bad_options_are_unjudged_with_a_reason(option, value):
    v = verify("code", fenced(ADD_STDIN), STDIO, **{option: value})
    assert v.score is None and v.status == "infra_error" and option in v.reason and value in v.reason


def test_pool_and_batch_file(tmp_path):
    rows = [{"response": fenced(ADD_STDIN), "gold": STDIO},
            {"response": fenced("print(0)\n"), "gold": STDIO},
            {"response": "def f(): return 1", "gold": {"mode": "call", "fn_name": "f", "tests": [{"input": [], "output": 1}]},
             "reward_mode": "fraction"}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = verify_jsonl(src, tmp_path / "out.jsonl", default_verifier="code", workers=2)
    out = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["score"] for o in out] == [1.0, 0.0, 1.0] and summary["count"] == 3
    assert out[1]["status"] == "wrong" and out[1]["parts"]["test_0"] == 0.0


def test_set_order_is_the_same_in_every_run():  # PYTHONHASHSEED=0 holds inside (spec rule 6: determinism)
    src = fenced("print(list({'apple', 'pear', 'fig', 'kiwi', 'plum', 'lime'}))\n")
    gold = {"mode": "stdio", "tests": [{"input": "", "output": "?"}]}
    assert len({verify("code", src, gold).reason for _ in range(3)}) == 1
