"""Reports and comparisons from real (gold-mode) runs, and the CLI's one-line errors."""
import json
from pathlib import Path

import pytest

from mmrl.cli import main as mmrl_main
from mmrl.eval.benchmark import load_benchmark
from mmrl.eval.report import compare, write_outputs
from mmrl.eval.runner import evaluate, gold_responder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """math500 (6 problems) answered by its references, and by wrong answers."""
    out = tmp_path_factory.mktemp("runs")
    result = {}
    for label, overrides in [("right", []), ("wrong", ["reference='\\boxed{-999}'"])]:
        bench = load_benchmark(REPO / "eval" / "math500.yaml", ["sampling.n=1", "metrics=[]", *overrides])
        summary = evaluate(bench, out / label, gold_responder(bench), {"model": label, "engine": "none"}, limit=6)
        write_outputs(out / label, summary)
        result[label] = out / label
    return result


def test_report_has_metrics_intervals_breakdowns_and_plots(runs):
    report = (runs["right"] / "report.md").read_text()
    assert "| pass@1 | 100.0% | [100.0, 100.0] | 6 |" in report
    assert "## By subject" in report and "## By level" in report
    for png in ("metrics.png", "by_subject.png", "by_level.png"):
        assert (runs["right"] / png).stat().st_size > 1000 and f"]({png})" in report
    summary = json.loads((runs["right"] / "summary.json").read_text())
    assert summary["model"] == "right" and summary["unreadable_rate"] == 0.0
    wrong = (runs["wrong"] / "report.md").read_text()
    assert "| pass@1 | 0.0% |" in wrong and "Responses not judged correct" in wrong


def test_compare_two_runs(runs, tmp_path):
    text = compare(json.loads((runs["wrong"] / "summary.json").read_text()),
                   json.loads((runs["right"] / "summary.json").read_text()), tmp_path).read_text()
    assert "| pass@1 | 0.0% [0.0, 0.0] | 100.0% [100.0, 100.0] | +100.0 pts | no |" in text
    assert (tmp_path / "compare.png").stat().st_size > 1000


@pytest.mark.parametrize("argv, message", [
    (["eval"], "give a benchmark file"),
    (["eval", "eval/nope.yaml", "--gold"], "benchmark file not found: eval/nope.yaml"),
    (["eval", "eval/gsm8k.yaml", "--gold", "--limit", "0"], "--limit: must be at least 1"),
    (["eval", "eval/gsm8k.yaml", "--gold", "--set", "sampling.temperature"], "expected key.sub=value"),
    (["eval", "eval/gsm8k.yaml", "--n", "4", "--temperature", "0"], "n=4 responses at temperature 0"),
    (["eval", "eval/gsm8k.yaml", "--model", "org/some-model"], "Model hubs are not used"),
    (["eval", "--compare", "nowhere_a", "nowhere_b"], "no summary.json in nowhere_a"),
])
def test_cli_errors_are_one_line(argv, message, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert mmrl_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
