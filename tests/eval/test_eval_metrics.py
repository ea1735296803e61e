"""Metric oracles: pass@k against hand-computed values and the binomial definition, maj@k with ties,
avg@k, unjudged responses, bootstrap intervals."""
from math import comb

import pytest
from hypothesis import given, strategies as st

from mmrl.errors import UserError
from mmrl.eval.metrics import (Response, aggregate, bootstrap_ci, check_metrics, majority_answer, parse_metric,
                               pass_at_k, problem_value, response_counts)


@pytest.mark.parametrize("n, c, k, expected", [
    (5, 2, 2, 0.7),             # 1 - C(3,2)/C(5,2) = 1 - 3/10
    (10, 3, 5, 1 - 21 / 252),   # 1 - C(7,5)/C(10,5)
    (8, 3, 1, 0.375),           # pass@1 = c/n
    (4, 0, 1, 0.0),
    (4, 4, 4, 1.0),
    (3, 1, 3, 1.0),             # n - c < k: every draw of 3 includes the correct one
    (16, 1, 4, 0.25),           # 1 - C(15,4)/C(16,4) = 1 - 12/16
])
def test_pass_at_k_hand_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_matches_binomial_definition(nck):
    n, c, k = nck
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-9)


@pytest.mark.parametrize("n, c, k", [(3, 4, 1), (3, 1, 4), (3, 1, 0), (0, 0, 1)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


@pytest.mark.parametrize("answers, winner", [
    (["1", "2", "2", "1"], 0),        # 2-2 tie: the answer seen first wins
    (["2", "1", "1", "2"], 0),
    (["3", "4", "4"], 1),             # plain majority
    ([None, "3", " 3 ", "4"], 1),     # surrounding whitespace ignored; no answer does not vote
    (["", None, "5"], 2),             # an empty answer does not vote
    ([None, None], None),
    ([], None),
])
def test_majority_answer_ties_and_missing(answers, winner):
    assert majority_answer(answers) == winner


def r(score, extracted=None, status="ok"):
    return Response(score, extracted, status)


def test_maj_at_k_uses_first_k_and_tie_rule():
    responses = [r(0.0, "A", "wrong"), r(1.0, "B"), r(1.0, "B"), r(0.0, "A", "wrong")]
    assert problem_value("maj@3", responses, 1.0) == 1.0   # B twice out of the first 3
    assert problem_value("maj@2", responses, 1.0) == 0.0   # A/B tie: A came first
    assert problem_value("maj@4", responses, 1.0) == 0.0   # 2-2 tie: A came first
    assert problem_value("maj@2", [r(0.0, None, "parse_error")] * 2, 1.0) == 0.0  # nothing to vote for


def test_avg_and_pass_with_unjudged_responses():
    responses = [r(1.0), r(None, status="infra_error"), r(0.0), r(0.5)]
    assert problem_value("avg@2", responses, 1.0) == 1.0    # first 2, the unjudged one left out
    assert problem_value("avg@4", responses, 1.0) == 0.5
    assert problem_value("pass@1", responses, 1.0) == pytest.approx(1 / 3)   # 3 judged, 1 correct
    assert problem_value("pass@4", responses, 1.0) is None  # only 3 judged
    assert problem_value("pass@1", responses, 0.5) == pytest.approx(2 / 3)  # threshold 0.5
    assert problem_value("avg@8", responses, 1.0) is None   # fewer than k responses


def test_aggregate_and_counts():
    problems = [[r(1.0, "4"), r(0.0, "5", "wrong")], [r(0.0, None, "format_error"), r(0.0, None, "parse_error")]]
    result = aggregate(problems, ["pass@1", "pass@2", "maj@2"], 1.0)
    assert result["pass@1"]["value"] == 0.25 and result["pass@2"]["value"] == 0.5
    assert result["maj@2"]["value"] == 0.5  # "4"/"5" tie -> "4" (correct); no answers -> 0
    assert result["pass@1"]["problems"] == 2
    counts = response_counts(problems)
    assert counts["unreadable_rate"] == 0.5 and counts["statuses"] == {"format_error": 1, "ok": 1,
                                                                       "parse_error": 1, "wrong": 1}


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    values = [1.0] * 30 + [0.0] * 70
    lo, hi = bootstrap_ci(values)
    assert lo < 0.3 < hi and 0.15 < lo and hi < 0.45
    assert bootstrap_ci(values) == (lo, hi)
    assert bootstrap_ci([1.0] * 10) == (1.0, 1.0)


@pytest.mark.parametrize("name", ["pass@0", "pass@", "best@4", "pass@-1", "maj@1.5", "avg@08"])
def test_bad_metric_names(name):
    with pytest.raises(ValueError, match="unknown metric"):
        parse_metric(name)


def test_metric_needing_more_responses_than_n_is_a_user_error():
    with pytest.raises(UserError, match="pass@8 needs at least 8 responses"):
        check_metrics(["pass@1", "pass@8"], 4)
