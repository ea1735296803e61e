"""Run-folder bookkeeping: which checkpoint `resume: auto` picks (never a half-written one), the
metrics file after a resume (no duplicated or stale steps), the summary and the reward plot."""
import json

import pytest

from mmrl.errors import UserError
from mmrl.recipe import Logging
from mmrl.train.checkpoint import MARKER, find_resume
from mmrl.train.metrics import MetricsLogger, summarize
from mmrl.train.records import Group, Response
from mmrl.train.sample_log import SampleLog


def test_resume_auto_picks_the_newest_complete_checkpoint(tmp_path):
    root = tmp_path / "checkpoints"
    for step, complete in [(2, True), (10, True), (12, False)]:  # step 12 was killed mid-save
        (root / f"step_{step}").mkdir(parents=True)
        if complete:
            (root / f"step_{step}" / MARKER).write_text(str(step))
    assert find_resume(tmp_path, "auto") == root / "step_10"  # numeric order, not string order
    assert find_resume(tmp_path, "never") is None
    assert find_resume(tmp_path / "fresh", "auto") is None
    assert find_resume(tmp_path, str(root / "step_2")) == root / "step_2"
    with pytest.raises(UserError, match="not a complete checkpoint"):
        find_resume(tmp_path, str(root / "step_12"))


def test_metrics_after_resume_drop_steps_past_the_checkpoint(tmp_path):
    cfg = Logging(console=False, tensorboard=True, plot=True)
    log = MetricsLogger(tmp_path, 4, 0, cfg)
    for step in range(1, 4):
        log.log(step, {"reward/mean": step / 10, "accuracy": step / 20})
    # killed after step 3, resumed from the step-2 checkpoint
    log = MetricsLogger(tmp_path, 4, 2, cfg)
    log.log(3, {"reward/mean": 0.35, "accuracy": 0.2})
    log.log(4, {"reward/mean": 0.4, "accuracy": 0.25})
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and rows[2]["reward/mean"] == 0.35
    summary = log.close(tmp_path)
    assert summary["last"]["reward/mean"] == pytest.approx(0.4) and summary["best"]["accuracy"] == 0.25
    assert (tmp_path / "reward.png").stat().st_size > 1000 and (tmp_path / "summary.json").exists()
    assert any((tmp_path / "tensorboard").iterdir())


def test_summary_windows_average_the_first_and_last_steps():
    rows = [{"step": i, "time": float(i), "reward/mean": float(i)} for i in range(1, 16)]
    s = summarize(rows)
    assert s["window"] == 5 and s["first"]["reward/mean"] == 3.0 and s["last"]["reward/mean"] == 13.0
    assert summarize([]) == {}


def test_sample_log_writes_each_answer_with_its_verdict_and_drops_steps_past_a_resume(tmp_path):
    def group(key, texts):
        return Group(key, {"source": f"scenes/train-gui-{key}", "answer": {"bbox": [1, 2, 3, 4]}}, {},
                     responses=[Response([1], [0.0], t, "stop", status="wrong" if i else "ok",
                                         reward=None if t == "?" else 1.0 - i) for i, t in enumerate(texts)])
    log = SampleLog(tmp_path, 0, "answer")
    for step in (1, 2, 3):
        log.write(step, "train", [group(step, [f"[{step}, 1]", "?"])])
    log = SampleLog(tmp_path, 2, "answer")  # killed after step 3, resumed from the step-2 checkpoint
    log.write(3, "held_out", [group(7, ["[9, 9]"])])
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [(r["step"], r["split"], r["text"]) for r in rows] == [
        (1, "train", "[1, 1]"), (1, "train", "?"), (2, "train", "[2, 1]"), (2, "train", "?"), (3, "held_out", "[9, 9]")]
    assert rows[0]["source"] == "scenes/train-gui-1" and rows[0]["gold"] == {"bbox": [1, 2, 3, 4]}
    assert (rows[0]["reward"], rows[0]["status"], rows[1]["reward"], rows[1]["status"]) == (1.0, "ok", None, "wrong")
    SampleLog(tmp_path / "other", 0, "answer", enabled=False).write(1, "train", [group(1, ["x"])])
    assert not (tmp_path / "other").exists()  # ranks other than 0 write nothing
