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


# --- inputs checked before any work (issue 12) -----------------------------------------------------
# In-process, with a pool that fails the test if it is started: an input error must be found before
# verification starts, not after the whole batch was verified.
import mmrl_verifiers.pool  # noqa: E402
import pytest  # noqa: E402

from mmrl.cli import main  # noqa: E402


@pytest.fixture
def no_pool(monkeypatch):
    def started(*args, **kwargs):
        raise AssertionError("verification started before the inputs were checked")
    monkeypatch.setattr(mmrl_verifiers.pool.VerifierPool, "__init__", started)


def in_process(capsys, *args: str) -> tuple[int, list[str]]:
    try:
        code = main(["--debug", "verify", *args])  # --debug: an unexpected exception fails the test
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err.strip().splitlines()


def batch_file(tmp_path, rows=({"response": r"\boxed{4}", "gold": "4"},)) -> Path:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return src


@pytest.mark.parametrize("args, words", [
    (["--workers", "0"], ["--workers", "at least 1"]),       # a pool of 0 workers waited forever
    (["--workers", "-2"], ["--workers", "at least 1"]),
    (["--timeout", "nan"], ["--timeout", "nan"]),             # nan switched the hard limit off
    (["--timeout", "-5"], ["--timeout", "-5"]),               # scored everything 0 as "timeout"
    (["--timeout", "0"], ["--timeout", "> 0"]),
    (["--timeout", "inf"], ["--timeout", "inf"]),
])
def test_bad_numbers_are_refused_before_any_verification(tmp_path, capsys, no_pool, args, words):
    out = tmp_path / "out.jsonl"
    code, err = in_process(capsys, "--batch", str(batch_file(tmp_path)), "--out", str(out), "--verifier", "math", *args)
    assert code == 2 and len(err) == 1 and err[0].startswith("mmrl verify: error:"), err
    assert all(w in err[0] for w in words), err
    assert not out.exists()
    code, err = in_process(capsys, "--verifier", "math", "--response", "4", "--gold", "4", *args)  # single mode
    assert code == 2 and len(err) == 1, err


@pytest.mark.parametrize("where, words", [
    ("missing/out.jsonl", ["missing", "does not exist"]),
    (".", ["is a folder"]),
    ("in.jsonl", ["is the input file"]),                      # would destroy the input
])
def test_bad_out_is_refused_before_any_verification(tmp_path, capsys, no_pool, where, words):
    src = batch_file(tmp_path)
    before = src.read_text()
    code, err = in_process(capsys, "--batch", str(src), "--out", str(tmp_path / where), "--verifier", "math")
    assert code == 2 and len(err) == 1 and "--out" in err[0], err
    assert all(w in err[0] for w in words), err
    assert src.read_text() == before


def test_non_utf8_batch_file_is_one_line_naming_it(tmp_path):
    src = tmp_path / "binary.jsonl"
    src.write_bytes(b'{"response": "1", "gold": "1"}\n\x89PNG\r\n\x1a\n\x00\xff\xfe')
    one_line_error(mmrl("--batch", str(src), "--out", str(tmp_path / "o.jsonl"), "--verifier", "math"),
                   "binary.jsonl:2", "UTF-8")


@pytest.mark.parametrize("verifier", [{"name": "math"}, ["math"]])
def test_verifier_field_that_is_not_a_name_is_one_line_naming_the_line(tmp_path, verifier):
    src = batch_file(tmp_path, [{"response": "1", "gold": "1"}, {"response": "1", "gold": "1", "verifier": verifier}])
    one_line_error(mmrl("--batch", str(src), "--out", str(tmp_path / "o.jsonl"), "--verifier", "math"),
                   "in.jsonl:2", "verifier", type(verifier).__name__)


def test_unknown_verifier_on_a_line_is_found_before_the_batch_runs(tmp_path, capsys, no_pool):
    src = batch_file(tmp_path, [{"response": "1", "gold": "1"}, {"response": "1", "gold": "1", "verifier": "maths"}])
    code, err = in_process(capsys, "--batch", str(src), "--out", str(tmp_path / "o.jsonl"), "--verifier", "math")
    assert code == 2 and len(err) == 1 and "in.jsonl:2" in err[0] and "'maths'" in err[0], err


# --- incremental output and --resume ---------------------------------------------------------------
REAL_MAP = mmrl_verifiers.pool.VerifierPool.map
ROWS = [{"id": i, "response": rf"so \boxed{{{i % 3}}}", "gold": "1"} for i in range(8)]


class CtrlCAfter:
    """Wraps VerifierPool.map: Ctrl-C (KeyboardInterrupt) right after the k-th verdict came in, and
    records how many items each map call was given."""

    def __init__(self, monkeypatch, k=None):
        self.k, self.given = k, []
        real = REAL_MAP

        def map_(pool, items, timeout=None, on_result=None):
            self.given.append(len(items))

            def on(i, verdict):
                on_result(i, verdict)
                if self.k is not None and i + 1 == self.k:
                    raise KeyboardInterrupt
            return real(pool, items, timeout, on)
        monkeypatch.setattr(mmrl_verifiers.pool.VerifierPool, "map", map_)


def test_interrupted_batch_keeps_finished_verdicts_and_resume_does_only_the_rest(tmp_path, capsys, monkeypatch):
    src, out, fresh = batch_file(tmp_path, ROWS), tmp_path / "out.jsonl", tmp_path / "fresh.jsonl"
    CtrlCAfter(monkeypatch, k=3)
    code, err = in_process(capsys, "--batch", str(src), "--out", str(out), "--verifier", "math", "--workers", "1")
    assert code == 130 and len(err) == 1 and "--resume" in err[0] and str(out) in err[0], err
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in kept] == [0, 1, 2] and all(r["status"] in ("ok", "wrong") for r in kept)

    counting = CtrlCAfter(monkeypatch)
    code, err = in_process(capsys, "--batch", str(src), "--out", str(out), "--verifier", "math", "--resume")
    assert code == 0, err
    assert counting.given == [len(ROWS) - 3]                  # the 3 finished lines were not verified again
    code, _ = in_process(capsys, "--batch", str(src), "--out", str(fresh), "--verifier", "math")
    assert code == 0
    assert out.read_text() == fresh.read_text()               # same as one uninterrupted run


def test_resume_drops_a_half_written_last_line_and_refuses_another_input(tmp_path, capsys):
    src, out = batch_file(tmp_path, ROWS), tmp_path / "out.jsonl"
    assert in_process(capsys, "--batch", str(src), "--out", str(out), "--verifier", "math")[0] == 0
    full = out.read_text()
    lines = full.splitlines()
    out.write_text("\n".join(lines[:5]) + "\n" + lines[5][:30])  # a crash in the middle of line 6
    assert in_process(capsys, "--batch", str(src), "--out", str(out), "--verifier", "math", "--resume")[0] == 0
    assert out.read_text() == full
    other = batch_file(tmp_path, [{**r, "gold": "2"} for r in ROWS])  # overwrites in.jsonl: other golds
    code, err = in_process(capsys, "--batch", str(other), "--out", str(out), "--verifier", "math", "--resume")
    assert code == 2 and len(err) == 1 and "does not match" in err[0] and f"{out}:1" in err[0], err
    assert out.read_text() == full                            # refused: nothing touched


@pytest.mark.integration  # a real Ctrl-C to the whole process group (workers too); ~30 s
def test_real_ctrl_c_keeps_verdicts_and_resume_completes_in_order(tmp_path):
    import os
    import signal
    import time
    rows = [{"id": i, "response": rf"so \boxed{{{i % 7}}}", "gold": "3"} for i in range(3000)]
    src, out = batch_file(tmp_path, rows), tmp_path / "out.jsonl"
    args = [sys.executable, "-m", "mmrl.cli", "verify", "--batch", str(src), "--out", str(out), "--verifier", "math"]
    # as from a terminal: SIGINT at its default (a job started with `&` by a shell without job control,
    # e.g. a CI runner's, inherits SIGINT ignored, and Python then rightly never raises KeyboardInterrupt)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while (not out.exists() or out.read_text().count("\n") < 50) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before the Ctrl-C: give it more rows"
    os.killpg(proc.pid, signal.SIGINT)                          # what a terminal's Ctrl-C does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "--resume" in err and "Traceback" not in err, err
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert 50 <= len(kept) < len(rows), len(kept)              # interrupted, not finished
    assert [r["id"] for r in kept] == list(range(len(kept)))
    again = mmrl("--batch", str(src), "--out", str(out), "--verifier", "math", "--resume")
    assert again.returncode == 0, again.stderr
    done = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in done] == list(range(len(rows)))
    assert [r["score"] for r in done] == [1.0 if i % 7 == 3 else 0.1 for i in range(len(rows))]
    assert json.loads(again.stdout.strip().splitlines()[-1])["resumed"] >= len(kept) - 2  # infra_error tail redone


def test_batch_only_options_without_batch_are_refused(tmp_path, capsys, no_pool):
    for extra in (["--out", str(tmp_path / "o.jsonl")], ["--resume"]):
        code, err = in_process(capsys, "--verifier", "math", "--response", "4", "--gold", "4", *extra)
        assert code == 2 and len(err) == 1 and "--batch" in err[0], err
