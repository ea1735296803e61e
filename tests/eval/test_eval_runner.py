"""The runner: resumable per-sample jsonl (a crash recomputes nothing), refusal of a folder holding
another run, summaries with breakdowns. Responses come from the benchmark's references (gold mode)
or from a scripted responder; verdicts from the real math verifier."""
import json
from pathlib import Path

import pytest

from mmrl.errors import UserError
from mmrl.eval.benchmark import load_benchmark
from mmrl.eval.runner import evaluate, gold_responder
from mmrl_verifiers import VerifierPool

REPO = Path(__file__).resolve().parents[2]
INFO = {"model": "test", "engine": "none"}


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(workers=2, preload=("math",)) as p:
        yield p


class Crash(Exception):
    pass


class CountingResponder:
    """Answers with the reference (so verdicts are real), counts what it was asked, can crash."""

    def __init__(self, bench, crash_on_call=None):
        self.gold, self.asked, self.calls, self.crash_on_call = gold_responder(bench), [], 0, crash_on_call

    def __call__(self, samples):
        self.calls += 1
        if self.calls == self.crash_on_call:
            raise Crash()
        self.asked += [s.id for s in samples]
        return self.gold(samples)


class FlakyPool:
    """Delegates to a real pool, but the first map call dies (a crash between generation and verdicts)."""

    def __init__(self, pool):
        self.pool, self.failed = pool, False

    def map(self, items, *args, **kwargs):
        if not self.failed:
            self.failed = True
            raise Crash()
        return self.pool.map(items, *args, **kwargs)


def lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_crash_during_generation_resumes_without_regenerating(tmp_path, pool):
    bench = load_benchmark(REPO / "eval" / "gsm8k.yaml")
    first = CountingResponder(bench, crash_on_call=3)
    with pytest.raises(Crash):
        evaluate(bench, tmp_path, first, INFO, limit=8, batch_size=2, pool=pool)
    assert first.asked == ["0", "1", "2", "3"]           # two chunks finished before the crash
    second = CountingResponder(bench)
    summary = evaluate(bench, tmp_path, second, INFO, limit=8, batch_size=2, pool=pool)
    assert second.asked == ["4", "5", "6", "7"]          # nothing generated twice
    assert summary["metrics"]["pass@1"]["value"] == 1.0 and summary["problems"] == 8
    records = lines(tmp_path / "samples.jsonl")
    assert [r["id"] for r in records] == [str(i) for i in range(8)]  # compacted: one final line each
    assert all(r["verdicts"][0]["status"] == "ok" for r in records)
    third = CountingResponder(bench)                    # a finished run: nothing at all to do
    evaluate(bench, tmp_path, third, INFO, limit=8, batch_size=2, pool=pool)
    assert third.calls == 0


def test_crash_between_generation_and_verification_keeps_the_responses(tmp_path, pool):
    bench = load_benchmark(REPO / "eval" / "gsm8k.yaml")
    first = CountingResponder(bench)
    with pytest.raises(Crash):
        evaluate(bench, tmp_path, first, INFO, limit=4, batch_size=2, pool=FlakyPool(pool))
    assert first.asked == ["0", "1"]
    pending = lines(tmp_path / "samples.jsonl")
    assert [r["verdicts"] for r in pending] == [None, None] and pending[0]["responses"]
    second = CountingResponder(bench)
    evaluate(bench, tmp_path, second, INFO, limit=4, batch_size=2, pool=pool)
    assert second.asked == ["2", "3"]                    # 0 and 1 were verified, not regenerated


def test_half_written_last_line_is_redone(tmp_path, pool):
    bench = load_benchmark(REPO / "eval" / "gsm8k.yaml")
    evaluate(bench, tmp_path, CountingResponder(bench), INFO, limit=3, pool=pool)
    text = (tmp_path / "samples.jsonl").read_text().splitlines()
    (tmp_path / "samples.jsonl").write_text("\n".join(text[:2]) + "\n" + text[2][:40])  # cut mid-record
    again = CountingResponder(bench)
    summary = evaluate(bench, tmp_path, again, INFO, limit=3, pool=pool)
    assert again.asked == ["2"] and summary["problems"] == 3


def test_folder_of_another_run_is_refused_naming_the_setting(tmp_path, pool):
    bench = load_benchmark(REPO / "eval" / "gsm8k.yaml")
    evaluate(bench, tmp_path, CountingResponder(bench), INFO, limit=1, pool=pool)
    other = load_benchmark(REPO / "eval" / "gsm8k.yaml", ["sampling.max_new_tokens=7"])
    with pytest.raises(UserError, match=r"different settings \(benchmark\.sampling\.max_new_tokens\)"):
        evaluate(other, tmp_path, CountingResponder(other), INFO, limit=1, pool=pool)
    with pytest.raises(UserError, match=r"\(model\)"):
        evaluate(bench, tmp_path, CountingResponder(bench), {**INFO, "model": "other"}, limit=1, pool=pool)


def test_summary_metrics_breakdown_and_unreadable_rate(tmp_path, pool):
    bench = load_benchmark(REPO / "eval" / "math500.yaml", ["sampling.n=3", "sampling.temperature=1"])
    scripted = {0: ["\\boxed{WRONG}", "no answer here", "{ref}"],   # 1 of 3 right, 1 unreadable
                1: ["{ref}", "{ref}", "\\boxed{0}"]}                # 2 of 3 right

    def respond(samples):
        ref = gold_responder(bench)(samples)
        return [[{"text": t.replace("{ref}", ref[i][0]["text"]), "finish_reason": "stop", "tokens": None}
                 for t in scripted[int(s.id)]] for i, s in enumerate(samples)]

    summary = evaluate(bench, tmp_path, respond, INFO, limit=2, pool=pool)
    m = summary["metrics"]
    assert m["pass@1"]["value"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert m["pass@3"]["value"] == 1.0
    assert m["maj@3"]["value"] == 0.5    # problem 0: three different answers -> the first (wrong); 1: right
    assert summary["unreadable_rate"] == pytest.approx(1 / 6)
    assert set(summary["breakdown"]) == {"subject", "level"}
    assert sum(g["problems"] for g in summary["breakdown"]["subject"].values()) == 2


def test_a_run_that_failed_before_its_first_result_does_not_block_the_corrected_rerun(tmp_path, pool):
    bench = load_benchmark(REPO / "eval" / "gsm8k.yaml")
    with pytest.raises(Crash):  # e.g. the engine failed on the first batch: nothing finished
        evaluate(bench, tmp_path, CountingResponder(bench, crash_on_call=1), INFO, limit=2, pool=pool)
    assert (tmp_path / "run.json").is_file()
    fixed = load_benchmark(REPO / "eval" / "gsm8k.yaml", ["sampling.max_new_tokens=7"])  # other settings
    summary = evaluate(fixed, tmp_path, CountingResponder(fixed), INFO, limit=2, pool=pool)
    assert summary["problems"] == 2 and summary["metrics"]["pass@1"]["value"] == 1.0
    assert json.loads((tmp_path / "run.json").read_text())["benchmark"]["sampling"]["max_new_tokens"] == 7


def test_out_that_is_a_file_is_refused(tmp_path, pool):
    bench = load_benchmark(REPO / "eval" / "gsm8k.yaml")
    (tmp_path / "taken").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        evaluate(bench, tmp_path / "taken", CountingResponder(bench), INFO, limit=1, pool=pool)
