"""Gold agreement on real data, run through a 2-worker VerifierPool: every gold solution scores 1 against
its own answer and 0 against the next problem's answer (pairs with equal answers are skipped)."""
import json
from pathlib import Path

import pytest

from mmrl_verifiers import VerifierPool

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

# (solution index, other answer): the two answers are the same value written differently.
MATH500_EQUAL_ANSWERS = {
    (22, "x=5"): "problem 22's answer is 5 and problem 23's is x=5: equal values (assignment unwrapped)",
}


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(workers=2, preload=("math",)) as p:
        yield p


def shifted_pairs(golds: list[str]) -> list[tuple[int, str]]:
    """(i, the next problem's gold) for each i whose neighbour's gold differs as text."""
    return [(i, golds[(i + 1) % len(golds)]) for i in range(len(golds))
            if golds[(i + 1) % len(golds)] != golds[i]]


def test_gsm8k_gold_solutions(pool):
    rows = [json.loads(line) for line in (DATA / "gsm8k" / "test.jsonl").open()]
    assert len(rows) == 1319
    golds = [r["answer"].split("####")[-1].strip() for r in rows]
    numbers = [g.replace(",", "") for g in golds]
    # The full worked solution, graded in free format (its "#### N" line is the final answer) ...
    own = pool.map([{"verifier": "math", "response": r["answer"], "gold": g, "answer_format": "free"}
                    for r, g in zip(rows, golds)])
    # ... and the boxed answer alone (the `make main` job).
    boxed = pool.map([{"verifier": "math", "response": f"The answer is \\boxed{{{g}}}.", "gold": g}
                      for g in numbers])
    pairs = shifted_pairs(numbers)
    other = pool.map([{"verifier": "math", "response": rows[i]["answer"], "gold": g, "answer_format": "free"}
                      for i, g in pairs])
    assert [i for i, v in enumerate(own) if v.score != 1.0] == []
    assert [i for i, v in enumerate(boxed) if v.score != 1.0] == []
    assert [pairs[k] for k, v in enumerate(other) if v.parts.get("accuracy") != 0.0] == []
    assert len(pairs) >= 1300


def test_math500_gold_solutions(pool):
    rows = [json.loads(line) for line in (DATA / "math500" / "test.jsonl").open()]
    assert len(rows) == 500
    golds = [r["answer"] for r in rows]
    own = pool.map([{"verifier": "math", "response": r["solution"], "gold": r["answer"]} for r in rows])
    pairs = [p for p in shifted_pairs(golds) if p not in MATH500_EQUAL_ANSWERS]
    other = pool.map([{"verifier": "math", "response": rows[i]["solution"], "gold": g} for i, g in pairs])
    assert [(i, golds[i], v.status, v.reason) for i, v in enumerate(own) if v.score != 1.0] == []
    assert [(pairs[k], v.reason) for k, v in enumerate(other) if v.parts.get("accuracy") != 0.0] == []
    assert len(pairs) >= 490
    # the exceptions are still real: the verifier does call those answers equal
    for (i, g) in MATH500_EQUAL_ANSWERS:
        assert pool.map([{"verifier": "math", "response": rows[i]["solution"], "gold": g}])[0].score == 1.0
