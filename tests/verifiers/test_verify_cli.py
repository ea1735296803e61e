"""`mmrl verify`: single and batch mode, and one-line errors with exit code 2 for bad input."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mmrl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmrl.cli", "verify", *args], capture_output=True,
                          text=True, timeout=180, cwd=ROOT)


def test_single_response():
    out = mmrl("--verifier", "math", "--gold", "0.5", "--response", r"so \boxed{\frac{1}{2}}")
    assert out.returncode == 0, out.stderr
    verdict = json.loads(out.stdout)
    assert (verdict["score"], verdict["status"], verdict["parts"]) == (1.0, "ok", {"accuracy": 1.0, "format": 1.0})


def test_single_with_options():
    out = mmrl("--verifier", "math", "--gold", "4", "--response", r"\boxed{4}", "-o", "preset=verl_dapo",
               "-o", "finish_reason=length")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["score"] == -1.0


def test_batch_mixed_verifiers(tmp_path):
    rows = [
        {"id": 1, "response": r"\boxed{4}", "gold": "4"},                               # default verifier
        {"id": 2, "response": r"\boxed{5}", "gold": "4"},
        {"id": 3, "verifier": "mcq", "response": "The answer is (B).", "gold": "B"},
        {"id": 4, "verifier": "format", "response": "<think>x</think><answer>1</answer>"},
        {"id": 5, "response": r"\boxed{1} or \boxed{2}", "gold": "1", "multi_box_policy": "strict_single"},
        {"id": 6, "response": r"\boxed{1}", "gold": r"\boxed{}"},                          # broken gold
    ]
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    out = mmrl("--batch", str(src), "--out", str(dst), "--verifier", "math", "--workers", "2")
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [r["id"] for r in results] == [1, 2, 3, 4, 5, 6]  # input order, input fields kept
    assert [r["score"] for r in results] == [1.0, 0.1, 1.0, 1.0, 0.1, None]
    assert [r["status"] for r in results] == ["ok", "wrong", "ok", "ok", "wrong", "gold_error"]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["count"] == 6 and summary["could_not_judge"] == 1
    assert summary["mean_score"] == (1.0 + 0.1 + 1.0 + 1.0 + 0.1) / 5


def test_batch_options_are_defaults_that_lines_override(tmp_path):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"response": r"\boxed{5}", "gold": "4"}, {"response": r"\boxed{5}", "gold": "4", "preset": "default"}]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = mmrl("--batch", str(src), "--out", str(dst), "--verifier", "math", "-o", "preset=verl_dapo")
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["score"] for line in dst.read_text().splitlines()] == [-1.0, 0.1]


def one_line_error(out: subprocess.CompletedProcess, *words: str) -> None:
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmrl verify: error:"), out.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_missing_batch_file(tmp_path):
    one_line_error(mmrl("--batch", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")), "nope.jsonl")


def test_bad_json_line_names_file_and_line(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"response": "1", "gold": "1"}\n{"response": oops}\n')
    one_line_error(mmrl("--batch", str(src), "--out", str(tmp_path / "o.jsonl"), "--verifier", "math"),
                   "bad.jsonl:2", "JSON")


def test_line_without_response_or_verifier(tmp_path):
    src = tmp_path / "norésponse.jsonl"
    src.write_text('{"gold": "1"}\n')
    one_line_error(mmrl("--batch", str(src), "--out", str(tmp_path / "o.jsonl"), "--verifier", "math"),
                   ":1", "response")
    src.write_text('{"response": "1"}\n')
    one_line_error(mmrl("--batch", str(src), "--out", str(tmp_path / "o.jsonl")), ":1", "verifier")


def test_unknown_verifier_lists_known_ones():
    one_line_error(mmrl("--verifier", "maths", "--response", "1"), "maths", "math", "mcq")
