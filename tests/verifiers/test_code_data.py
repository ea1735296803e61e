"""HumanEval (164) and the MBPP test split (500, task_id 11-510) from shared/data through the code
verifier and the real sandbox, 2 workers: every canonical solution passes its own tests, and an
empty body and a wrong solution (the canonical one with its result perturbed) fail."""
from collections import Counter
from pathlib import Path

import pytest

from mmrl_verifiers import VerifierPool
from mmrl_verifiers.code_datasets import humaneval, mbpp, wrong_solution

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared/data beside the repo
TIME_LIMIT_S = 5  # per test 10 s: MBPP 123 (amicable numbers up to 9999) needs ~3 s, more on a loaded CI


def variants(row: dict, empty_body: str) -> dict[str, str]:
    return {"canonical": row["solution"], "empty": empty_body,
            "wrong": wrong_solution(row["solution"], row["entry_point"])}


def run_all(rows: list[dict], empty_bodies: list[str]) -> dict[tuple[str, str], object]:
    items, keys = [], []
    for row, empty in zip(rows, empty_bodies):
        for kind, program in variants(row, empty).items():
            items.append({"verifier": "code", "response": program,
                          "gold": {**row["gold"], "time_limit_s": TIME_LIMIT_S}})
            keys.append((row["task_id"], kind))
    with VerifierPool(workers=2, preload=["code"]) as pool:
        return dict(zip(keys, pool.map(items)))


def check(verdicts: dict, n_tasks: int) -> None:
    counts = Counter((kind, v.score) for (_, kind), v in verdicts.items())
    failures = {k: (v.status, v.reason) for k, v in verdicts.items() if (k[1] == "canonical") != (v.score == 1.0)}
    assert failures == {}
    assert counts == {("canonical", 1.0): n_tasks, ("empty", 0.0): n_tasks, ("wrong", 0.0): n_tasks}
    assert all(v.status in ("wrong", "runtime_error") for (_, kind), v in verdicts.items() if kind != "canonical")


@pytest.mark.integration
def test_humaneval_canonical_passes_empty_and_wrong_fail():
    rows = list(humaneval(DATA / "humaneval" / "HumanEval.jsonl.gz"))
    assert len(rows) == 164
    check(run_all(rows, [r["prompt"] + "    pass\n" for r in rows]), 164)


@pytest.mark.integration
def test_mbpp_test_split_canonical_passes_empty_and_wrong_fail():
    rows = list(mbpp(DATA / "mbpp" / "mbpp.jsonl"))
    assert len(rows) == 500 and {r["task_id"] for r in rows} == set(range(11, 511))
    assert all(r["entry_point"] for r in rows)
    check(run_all(rows, [f"def {r['entry_point']}(*args, **kwargs):\n    pass\n" for r in rows]), 500)
