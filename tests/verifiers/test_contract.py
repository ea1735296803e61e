"""The verifier contract (verifiers.md §0.2): declared options checked in one place, the rules every
verifier shares (truncation, size caps, list golds) applied by the pool once, and the public
`validate_options` / `describe` used by the trainer's preflight and `mmrl verify --help`."""
import math
import time

import pytest

import mmrl_verifiers as mv
from mmrl_verifiers import VerifierPool, describe, validate_options, verify
from mmrl_verifiers.contract import DECLARED, SANDBOX_MODES, SCORE_PRESETS, THINK_MODES


# --- validate_options / describe --------------------------------------------------------------

def test_validate_options_names_every_problem_once():
    assert validate_options("math", {"preset": "verl_dapo", "answer_format": "free", "precision": 2}) == []
    problems = validate_options("math", {"answer_fromat": "free", "preset": "nope", "precision": "2"})
    assert len(problems) == 3
    assert any("unknown option 'answer_fromat'" in p and "answer_format" in p for p in problems)
    assert any("'preset'" in p and "verl_dapo" in p and "'nope'" in p for p in problems)
    assert any("'precision' must be int" in p for p in problems)


def test_validate_options_unknown_verifier_and_common_options():
    assert validate_options("maths", {}) == ["unknown verifier 'maths'; known: " + ", ".join(mv.names())]
    assert validate_options("code", {"finish_reason": "length", "allow_truncated": True}) == []
    assert validate_options("code", {"finish_reason": "timeout"})[0].startswith("code: option 'finish_reason'")
    assert validate_options("code", {"max_tests": None}) == []            # null = all tests
    assert "must not be null" in validate_options("code", {"memory_mb": None})[0]
    assert validate_options("format", {"answer_tag": None}) == []         # null = no answer tag
    assert "must be bool" in validate_options("code", {"require_fence": "yes"})[0]
    assert "must be float" in validate_options("detection", {"iou_threshold": math.nan})[0]


def test_describe_lists_every_verifier_and_its_options():
    text = describe()
    for name in mv.names():
        assert f"\n{name} (limit" in "\n" + text
    assert "answer_format (boxed | answer_tag | free, default 'boxed')" in text
    assert "image_size (list, default None; may come from a sample column)" in text
    rows = {r["name"]: r for r in describe(structured=True)}
    assert rows["math"]["scalar_gold"] and not rows["code"]["scalar_gold"]
    assert {o["name"] for o in rows["mcq"]["options"]} >= {"choices", "letters", "finish_reason"}
    assert describe("cad").startswith("cad (limit 180 s")


def test_declared_choices_match_the_verifier_modules():
    """The light declarations must not drift from the modules they describe."""
    from mmrl_verifiers import cad, format, frames, gui, sandbox
    assert set(SCORE_PRESETS) == set(format.PRESETS) and set(THINK_MODES) == set(format.THINK_MODES)
    assert set(SANDBOX_MODES) == set(sandbox.MODES)
    gui_presets = next(o for o in DECLARED["gui"] if o.name == "preset").choices
    assert set(gui_presets) == set(gui.PRESETS) | {"infigui_aer"}
    assert set(next(o for o in DECLARED["cad"] if o.name == "preset").choices) == set(cad.PRESETS)
    assert {o.name for o in DECLARED["grounding"] if o.sample} == set(frames.FRAME_OPTIONS)


def test_every_declared_option_is_a_parameter_of_its_verifier():
    import inspect
    for name, declared in DECLARED.items():
        params = inspect.signature(mv.get(name)).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for option in declared:
            assert option.name in params or takes_any, (name, option.name)


# --- the pool applies the declarations --------------------------------------------------------

@pytest.mark.parametrize("verifier, gold, options, named", [
    ("math", "4", {"answer_fromat": "free"}, "answer_fromat"),      # was silently ignored
    ("mcq", "B", {"task_id": "mcq/7"}, "task_id"),                   # was silently ignored
    ("format", None, {"source": "x"}, "source"),                     # was silently ignored
    ("grounding", [1, 2, 3, 4], {"frame": "abs", "acc_mode": "area"}, "acc_mode"),  # was gold_error
])
def test_unknown_option_or_bad_value_is_a_named_infra_error(verifier, gold, options, named):
    v = verify(verifier, r"\boxed{4}", gold, **options)
    assert (v.score, v.status) == (None, "infra_error") and named in v.reason, v


# --- shared rules -----------------------------------------------------------------------------

def test_truncation_rule_applies_to_every_verifier():
    """format and aepo used to ignore finish_reason=length; every verifier now scores it as a failure."""
    ok = "<think>x</think><answer>1</answer>"
    assert verify("format", ok, finish_reason="stop").score == 1.0
    v = verify("format", ok, finish_reason="length")
    assert (v.score, v.status) == (0.0, "format_error") and "truncated" in v.reason
    assert verify("format", ok, finish_reason="length", allow_truncated=True).score == 1.0
    answer = '<think>look</think>[{"point_2d": [15, 15]}]'
    gold = {"bbox": [10, 10, 20, 20], "image_size": [100, 100]}
    assert verify("aepo", answer, gold, frame="abs").score > 1.0
    v = verify("aepo", answer, gold, frame="abs", finish_reason="length")
    assert v.score == -1.0 and "truncated" in v.reason  # like an invalid answer


def test_list_gold_means_any_of_its_elements():
    assert verify("math", r"so \boxed{3}", ["3", "4"]).score == 1.0   # was judged against "['3', '4']"
    assert verify("math", r"so \boxed{4}", ["3", "4"]).info["gold_index"] == 1
    assert verify("math", r"so \boxed{5}", ["3", "4"]).score == pytest.approx(0.1)
    assert verify("mcq", "The answer is (C).", ["A", "C"]).score == 1.0
    empty = verify("math", r"\boxed{3}", [])
    assert (empty.score, empty.status) == (None, "gold_error") and "empty list" in empty.reason
    as_dict = verify("math", r"\boxed{2}", {"answer": "2"})  # was judged against "{'answer': '2'}"
    assert (as_dict.score, as_dict.status) == (None, "gold_error") and "got a dict" in as_dict.reason
    broken = verify("math", r"\boxed{3}", ["3", r"\boxed{}"])
    assert (broken.score, broken.status) == (None, "gold_error") and "gold element 1" in broken.reason


def test_huge_gold_is_could_not_judge_not_a_timeout_zero():
    gold = "1" * (20 << 20)  # 20 MB
    t0 = time.monotonic()
    with VerifierPool(workers=1, preload=()) as pool:
        v = pool.map([{"verifier": "math", "response": r"\boxed{1}", "gold": gold}], timeout=5)[0]
    assert (v.score, v.status) == (None, "gold_error") and "gold cap" in v.reason
    assert time.monotonic() - t0 < 5  # refused in the parent: never shipped to a worker
    code_gold = {"mode": "stdio", "tests": [{"input": "x" * (65 << 20), "output": ""}]}
    assert verify("code", "print(1)", code_gold).status == "gold_error"


# --- pool arguments ---------------------------------------------------------------------------

@pytest.mark.parametrize("timeout", [math.nan, math.inf, -5, 0, "3", True])
def test_bad_timeout_is_refused_before_any_work(timeout):
    with VerifierPool(workers=1, preload=()) as pool:
        with pytest.raises(ValueError, match="timeout must be a finite number of seconds > 0"):
            pool.map([{"verifier": "format", "response": "x"}], timeout=timeout)
    with pytest.raises(ValueError, match=repr(timeout).replace("(", r"\(")):
        mv.verify_batch([{"verifier": "format", "response": "x"}], workers=1, timeout=timeout)


@pytest.mark.parametrize("workers", [0, -1, 1.5, None])
def test_workers_below_one_are_refused(workers):
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        VerifierPool(workers=workers, preload=())


def test_results_come_in_input_order_and_an_interrupted_map_leaves_nothing_behind():
    items = [{"verifier": "format", "response": f"<think>x</think><answer>{i}</answer>"} for i in range(40)]
    seen = []

    def stop_at_5(i, verdict):
        seen.append(i)
        if i == 5:
            raise KeyboardInterrupt

    with VerifierPool(workers=2, preload=("format",)) as pool:
        with pytest.raises(KeyboardInterrupt):
            pool.map(items, on_result=stop_at_5)
        assert seen == list(range(6))
        math_items = [{"verifier": "math", "response": rf"\boxed{{{i}}}", "gold": str(i)} for i in range(30)]
        order = []
        verdicts = pool.map(math_items, on_result=lambda i, v: order.append(i))
    assert order == list(range(30)) and [v.score for v in verdicts] == [1.0] * 30
