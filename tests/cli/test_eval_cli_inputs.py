"""`mmrl eval`: every number and path checked before a model loads or a pool starts, one line and
exit code 2 for each bad input, and a failed run that does not block the corrected one (issue 12)."""
import json
import subprocess
import sys
from pathlib import Path

import mmrl_verifiers.pool
import pytest

import mmrl.eval.generate as generate
from mmrl.cli import main

ROOT = Path(__file__).resolve().parents[2]
GSM8K = str(ROOT / "eval" / "gsm8k.yaml")


def mmrl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmrl.cli", "eval", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)  # a hang (the old --workers 0) fails the test here


def one_line_error(out: subprocess.CompletedProcess, *words: str) -> None:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("mmrl eval: error:"), out.stderr
    assert all(w in lines[0] for w in words), lines[0]


@pytest.fixture
def nothing_starts(monkeypatch):
    def started(*args, **kwargs):
        raise AssertionError("a model or a verifier pool started before the inputs were checked")
    monkeypatch.setattr(generate, "open_engine", started)
    monkeypatch.setattr(mmrl_verifiers.pool.VerifierPool, "__init__", started)


def in_process(capsys, *args: str) -> tuple[int, list[str]]:
    try:
        code = main(["--debug", "eval", *args])
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err.strip().splitlines()


def test_gold_with_zero_workers_is_refused_not_a_hang():
    one_line_error(mmrl(GSM8K, "--gold", "--limit", "1", "--workers", "0"), "--workers", "at least 1")


@pytest.mark.parametrize("args, option", [
    (["--workers", "0"], "--workers"), (["--batch-size", "0"], "--batch-size"), (["--limit", "0"], "--limit"),
    (["--n", "0"], "--n"), (["--max-new-tokens", "0"], "--max-new-tokens"),
    (["--temperature", "nan"], "--temperature"), (["--temperature", "-1"], "--temperature"),
])
def test_bad_numbers_are_refused_before_anything_starts(tmp_path, capsys, nothing_starts, args, option):
    code, err = in_process(capsys, GSM8K, "--out", str(tmp_path / "run"), *args)
    assert code == 2 and len(err) == 1 and option in err[0], err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("where, words", [("file", ["not a folder"]), ("file/run", ["is a file"])])
def test_out_that_cannot_be_a_folder_is_refused_before_the_model_loads(tmp_path, capsys, nothing_starts, where, words):
    (tmp_path / "file").write_text("not a run folder")
    code, err = in_process(capsys, GSM8K, "--limit", "1", "--out", str(tmp_path / where))
    assert code == 2 and len(err) == 1 and "--out" in err[0] and all(w in err[0] for w in words), err


def test_non_utf8_benchmark_yaml_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    one_line_error(mmrl(str(bad), "--gold"), "latin1.yaml", "UTF-8")


def test_failed_run_does_not_block_the_corrected_rerun(tmp_path, capsys, monkeypatch):
    import mmrl.cli
    import mmrl.eval.runner as runner

    monkeypatch.setattr(mmrl.cli, "quiet_third_party", lambda: None, raising=False)  # keep os.environ
    out = tmp_path / "run"

    def dead_engine(bench):
        def respond(samples):
            raise RuntimeError("the engine died")
        return respond
    with monkeypatch.context() as m:                          # fails after the run folder was made
        m.setattr(runner, "gold_responder", dead_engine)
        assert main(["eval", GSM8K, "--gold", "--limit", "2", "--set", "sampling.max_new_tokens=7",
                     "--out", str(out)]) == 1
    assert "the engine died" in capsys.readouterr().err and (out / "run.json").is_file()
    assert main(["eval", GSM8K, "--gold", "--limit", "2", "--out", str(out)]) == 0   # other settings: taken over
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["pass@1"] == 1.0


def test_compare_with_a_broken_summary_is_one_line(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "summary.json").write_text('{"benchmark": "gsm8k", "metr')
    one_line_error(mmrl("--compare", str(tmp_path / "a"), str(tmp_path / "a")), "summary.json")
