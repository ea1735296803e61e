"""Canonical solutions of the code benchmarks in shared/data against their own tests, through the
`code` verifier and the real sandbox (2 workers); prints the counts and every failure.

    .venv/bin/python bench/code_gold_report.py [--only mbpp_plus]

  humaneval        164 tasks: canonical must pass; empty body and a wrong solution must fail
  mbpp             test split (task_id 11-510), same three checks
  mbpp_sanitized   the sanitized subset (all 427), canonical only
  mbpp_plus        MBPP+ (378): base = the `assertion` asserts; plus = the canonical solution is run
                   on `plus_input` (results recorded as the expected outputs, EvalPlus style), then
                   verified again as a call gold against them (must reproduce)
"""
import argparse
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mmrl_verifiers import VerifierPool
from mmrl_verifiers.code import driver_records
from mmrl_verifiers.code_datasets import call_gold, humaneval, mbpp, mbpp_plus, wrong_solution

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SLOW_OK = {"time_limit_s": 5}  # per test 10 s, for slow canonical solutions on a busy machine


def verify_all(pool: VerifierPool, named: list[tuple[str, str, dict]], **options) -> dict[str, object]:
    items = [{"verifier": "code", "response": program, "gold": {**gold, **SLOW_OK}, **options}
             for _, program, gold in named]
    return dict(zip([key for key, _, _ in named], pool.map(items)))


def report(title: str, verdicts: dict[str, object], want_pass: callable) -> None:
    bad = {k: v for k, v in verdicts.items() if (v.score == 1.0) != want_pass(k)}
    kinds = Counter((k.split("|")[1], v.score == 1.0) for k, v in verdicts.items())
    print(f"{title}: " + ", ".join(f"{kind} {'pass' if ok else 'fail'} {n}" for (kind, ok), n in sorted(kinds.items())))
    for k, v in sorted(bad.items()):
        print(f"   unexpected: {k} -> {v.status}: {v.reason[:160]}")


def three_ways(rows: list[dict], empty: callable) -> list[tuple[str, str, dict]]:
    out = []
    for r in rows:
        for kind, program in [("canonical", r["solution"]), ("empty", empty(r)),
                              ("wrong", wrong_solution(r["solution"], r["entry_point"]))]:
            out.append((f"{r['task_id']}|{kind}", program, r["gold"]))
    return out


def plus_outputs(row: dict) -> tuple[list, str | None]:
    """The canonical solution's results on plus_input, or why there are none."""
    inputs = row["plus_input"]
    records, res = driver_records(row["solution"], "call", inputs, row["entry_point"], per_test_s=10.0)
    if -1 in records:
        return [], f"loading failed: {records[-1].get('error')}"
    missing = [i for i in range(len(inputs)) if i not in records]
    errors = [(i, records[i].get("error")) for i in range(len(inputs)) if i in records and not records[i]["ok"]]
    if missing or errors:
        first = errors[0] if errors else (missing[0], f"no record (timed_out={res.timed_out}, limit={res.limit_hit})")
        return [], f"{len(errors)} errors, {len(missing)} missing; first: input {first[0]}: {str(first[1])[:120]}"
    return [records[i]["result"] for i in range(len(inputs))], None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["humaneval", "mbpp", "mbpp_sanitized", "mbpp_plus"])
    args = ap.parse_args()
    want = lambda name: args.only in (None, name)
    with VerifierPool(workers=2, preload=["code"]) as pool:
        if want("humaneval"):
            rows = list(humaneval(DATA / "humaneval" / "HumanEval.jsonl.gz"))
            report(f"HumanEval ({len(rows)})", verify_all(pool, three_ways(rows, lambda r: r["prompt"] + "    pass\n")),
                   lambda k: k.endswith("canonical"))
        empty_fn = lambda r: f"def {r['entry_point']}(*args, **kwargs):\n    pass\n"
        if want("mbpp"):
            rows = list(mbpp(DATA / "mbpp" / "mbpp.jsonl"))
            report(f"MBPP test split ({len(rows)})", verify_all(pool, three_ways(rows, empty_fn)),
                   lambda k: k.endswith("canonical"))
        if want("mbpp_sanitized"):
            rows = list(mbpp(DATA / "mbpp" / "sanitized-mbpp.json", task_ids=None))
            named = [(f"{r['task_id']}|canonical", r["solution"], r["gold"]) for r in rows]
            report(f"MBPP sanitized ({len(rows)})", verify_all(pool, named), lambda k: True)
        if want("mbpp_plus"):
            rows = list(mbpp_plus(DATA / "mbpp" / "mbpp_plus" / "MbppPlus.jsonl"))
            named = [(f"{r['task_id']}|base", r["solution"], r["gold"]) for r in rows]
            report(f"MBPP+ base asserts ({len(rows)})", verify_all(pool, named), lambda k: True)
            with ThreadPoolExecutor(2) as ex:
                outputs = list(ex.map(plus_outputs, rows))
            no_ref = {r["task_id"]: why for r, (_, why) in zip(rows, outputs) if why}
            named = [(f"{r['task_id']}|plus", r["solution"], call_gold(r["entry_point"], r["plus_input"], outs, r["atol"]))
                     for r, (outs, why) in zip(rows, outputs) if not why and r["plus_input"]]
            verdicts = verify_all(pool, named, max_tests=None)  # every plus input, not the 32 longest
            n_inputs = sum(len(r["plus_input"]) for r in rows)
            print(f"MBPP+ plus inputs ({n_inputs} calls over {len(rows)} tasks): canonical runs cleanly on "
                  f"{len(rows) - len(no_ref)}/{len(rows)}")
            for task, why in sorted(no_ref.items()):
                print(f"   no reference: {task}: {why}")
            report("MBPP+ plus, re-verified against the recorded outputs", verdicts, lambda k: True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
