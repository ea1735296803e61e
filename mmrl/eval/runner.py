"""Run a benchmark: responses for every problem -> verdicts -> metrics, resumable.

`respond(samples) -> [[{"text", "finish_reason", "tokens"}, ...n] per sample]` supplies responses:
a rollout engine (mmrl.eval.generate), or gold mode, which answers each problem with the
benchmark's reference response and so checks that data mapping, templates, extraction and
verifier agree (it should score ~100%).
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any, Callable, Sequence

from mmrl_verifiers import VerifierPool

from .benchmark import Benchmark, Sample
from .metrics import Response, aggregate, check_metrics, response_counts
from .store import RunStore
from ..tools.metrics import ToolUse, tool_metrics

Respond = Callable[[list[Sample]], list[list[dict[str, Any]]]]


def gold_responder(bench: Benchmark) -> Respond:
    return lambda samples: [[{"text": bench.reference_text(s), "finish_reason": "stop", "tokens": None}]
                            for s in samples]


def evaluate(bench: Benchmark, out_dir, respond: Respond, run_info: dict[str, Any], *,
             limit: int | None = None, batch_size: int = 16, workers: int = 2,
             pool: VerifierPool | None = None,
             on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Evaluate `bench` into `out_dir` (samples.jsonl, run.json) and return the summary.
    `run_info` (model, engine ...) is part of the run's identity: a folder holding a run with
    other settings is refused, a folder holding the same run is resumed. `pool`: a verifier pool to
    share (e.g. across benchmarks); else one with `workers` processes is started and stopped."""
    metrics = bench.metric_names()
    check_metrics(metrics, bench.sampling.n)
    samples = bench.samples(limit)
    store = RunStore(out_dir, {**run_info, "benchmark": bench.model_dump(mode="json", exclude={"source"})})
    todo = [s for s in samples if store.records.get(s.id, {}).get("verdicts") is None]
    done = len(samples) - len(todo)
    if on_progress:
        on_progress(done, len(samples))
    t0 = time.perf_counter()
    preload = sorted({bench.verifier_item(s, "")["verifier"] for s in todo})  # imported once per worker
    with nullcontext(pool) if pool else VerifierPool(workers=workers, preload=preload) as pool:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            fresh = [s for s in chunk if s.id not in store.records]
            if fresh:  # generated before a crash: not generated again
                for sample, responses in zip(fresh, respond(fresh)):
                    store.put(_record(bench, sample, responses))
            records = [store.records[s.id] for s in chunk]
            items = [{**bench.verifier_item(s, r["text"]), "finish_reason": r.get("finish_reason")}
                     for s, rec in zip(chunk, records) for r in rec["responses"]]
            verdicts = iter(pool.map(items))
            for rec in records:
                store.put({**rec, "verdicts": [next(verdicts).to_dict() for _ in rec["responses"]]})
            done += len(chunk)
            if on_progress:
                on_progress(done, len(samples))
    final = store.compact(s.id for s in samples)
    summary = summarize(bench, final, metrics)
    summary.update(run_info, seconds=round(time.perf_counter() - t0, 2), output=str(store.dir))
    return summary


def _record(bench: Benchmark, sample: Sample, responses: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": sample.id, "prompt": bench.prompt_text(sample), "images": [str(p) for p in sample.images],
            "gold": bench.verifier_item(sample, "")["gold"],
            "breakdown": {k: sample.fields.get(k) for k in bench.breakdown},
            "responses": responses, "verdicts": None}


def graded(record: dict[str, Any], bench: Benchmark) -> list[Response]:
    """A record's verdicts as metric inputs, graded by the verdict's score or its `score_part`."""
    part = bench.verifier.score_part
    out = []
    for v in record["verdicts"]:
        score = v["score"] if part is None or v["score"] is None else v["parts"].get(part)
        out.append(Response(score, v.get("extracted"), v["status"]))
    return out


def summarize(bench: Benchmark, records: Sequence[dict[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    threshold = bench.verifier.pass_threshold
    problems = [graded(r, bench) for r in records]
    summary: dict[str, Any] = {"benchmark": bench.name, "problems": len(records), "n": bench.sampling.n,
                               "metrics": aggregate(problems, metrics, threshold), **response_counts(problems)}
    breakdown: dict[str, dict[str, Any]] = {}
    for key in bench.breakdown:
        groups: dict[str, list[list[Response]]] = {}
        for record, problem in zip(records, problems):
            groups.setdefault(str(record["breakdown"].get(key)), []).append(problem)
        breakdown[key] = {value: {"problems": len(group),
                                  **{m: r["value"] for m, r in aggregate(group, metrics, threshold, 200).items()}}
                          for value, group in sorted(groups.items())}
    summary["breakdown"] = breakdown
    uses = [ToolUse(r["tool_calls"], r["tool_errors"], r.get("tool_seconds", 0.0), r["turns"], g.score)
            for record, problem in zip(records, problems) for r, g in zip(record["responses"], problem)
            if "tool_calls" in r]
    if uses:  # the benchmark ran with tools
        summary["tools"] = tool_metrics(uses)
    summary["examples"] = _failures(records)
    return summary


def _failures(records: Sequence[dict[str, Any]], limit: int = 5) -> list[dict[str, Any]]:
    """A few responses that were not judged correct or could not be judged, for the report."""
    out = []
    for record in records:
        for response, verdict in zip(record["responses"], record["verdicts"]):
            if verdict["status"] != "ok":
                out.append({"id": record["id"], "status": verdict["status"], "reason": verdict["reason"][:200],
                            "response_tail": response["text"][-200:]})
                break
        if len(out) >= limit:
            break
    return out
