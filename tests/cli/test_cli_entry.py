"""The `mmrl` entry point: --version, help examples with their line breaks, one line for any
unexpected error (the traceback with --debug), quiet when the reader of stdout goes away, and the
known third-party start-up warnings filtered unless --debug (issue 12)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mmrl
import mmrl.cli
import mmrl.commands.verify
from mmrl.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def keep_environment(monkeypatch):
    """In-process main() would set the filters' environment variables in the test process."""
    monkeypatch.setattr(mmrl.cli, "quiet_third_party", lambda: None)


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmrl.cli", *args], capture_output=True, text=True,
                          timeout=180, cwd=ROOT, **kwargs)


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"mmrl {mmrl.__version__}"


@pytest.mark.parametrize("command, example", [
    ("verify", "  mmrl verify --verifier math --gold 4 --response 'so \\boxed{4}'"),
    ("verify", "  mmrl verify --batch in.jsonl --out out.jsonl [--verifier math] [--workers 2]"),
    ("eval", "  mmrl eval eval/gsm8k.yaml --gold          # reference answers as responses: checks the pipeline"),
])
def test_help_examples_keep_their_line_breaks(command, example):
    out = run(command, "--help")
    assert out.returncode == 0
    assert example in out.stdout.splitlines(), out.stdout   # one line of its own, as written


def test_verify_help_lists_every_verifier_and_its_declared_options():
    import mmrl_verifiers
    text = run("verify", "--help").stdout
    for name in mmrl_verifiers.names():
        assert f"\n{name}" in text or f" {name}," in text or f" {name}\n" in text or f"  {name} (" in text, name
    lines = text.splitlines()
    for line in mmrl_verifiers.describe().splitlines():  # the declarations: every line, as written
        assert "  " + line in lines, line


def test_usage_error_is_one_line():
    out = run("verify", "--verifier", "math", "--response", "1", "--workers", "zero")
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "mmrl verify: error: argument --workers: expected a whole number, got 'zero' (see mmrl verify --help)"]


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("the verifier registry is corrupt\nsecond line of detail")
    monkeypatch.setattr(mmrl.commands.verify, "run", broken)
    assert main(["verify", "--verifier", "math"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["mmrl verify: unexpected error: RuntimeError: the verifier registry is corrupt "
                   "(rerun with --debug for the traceback)"]
    for argv in (["--debug", "verify", "--verifier", "math"], ["verify", "--verifier", "math", "--debug"]):
        with pytest.raises(RuntimeError, match="registry is corrupt"):
            main(argv)


def test_output_into_a_closed_pipe_is_quiet():
    """`mmrl verify ... | head -0`: the reader is gone before mmrl writes; no BrokenPipe traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "mmrl.cli", "verify", "--verifier", "math", "--gold", "4",
                             "--response", r"\boxed{4}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT)
    proc.stdout.close()  # long before the verdict is printed (start-up alone takes a second)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == "", err


def test_quiet_unless_debug(monkeypatch):
    calls = []
    monkeypatch.setattr(mmrl.cli, "quiet_third_party", lambda: calls.append(1))
    assert main(["verify", "--verifier", "nope", "--response", "1"]) == 2
    assert calls == [1]
    assert main(["--debug", "verify", "--verifier", "nope", "--response", "1"]) == 2
    assert calls == [1]


STARTUP = """
import sys
if sys.argv[1] == "quiet":
    from mmrl._quiet import quiet_third_party
    quiet_third_party()
import torch.distributed as dist
dist.reduce_op.__dict__                        # the FutureWarning vLLM's Triton dispatcher triggers
import torch.utils.cpp_extension               # torch: "No CUDA runtime is found"
import deepspeed                               # DeepSpeed: "Setting accelerator to CPU"
from vllm.triton_utils import importing        # vLLM: "Triton is installed, but doesn't include CPU backend"
"""


@pytest.mark.integration  # imports torch, DeepSpeed and vLLM twice (~40 s)
def test_known_startup_warnings_are_filtered(tmp_path):
    script = tmp_path / "startup.py"
    script.write_text(STARTUP)
    # a fresh shell's environment: in-process engine tests earlier in the session leave variables behind
    # (DS_ACCELERATOR silenced DeepSpeed's "Setting accelerator" line; after tests/train the loud run
    # also lost the reduce_op warning), so the scripts get only what a login shell has
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER") if k in os.environ}
    loud = subprocess.run([sys.executable, str(script), "loud"], capture_output=True, text=True, timeout=300, env=env)
    quiet = subprocess.run([sys.executable, str(script), "quiet"], capture_output=True, text=True, timeout=300, env=env)
    assert loud.returncode == quiet.returncode == 0, loud.stderr + quiet.stderr
    noise = ("Setting accelerator to CPU", "No CUDA runtime", "is deprecated", "doesn't include CPU backend",
             "reduce_op")
    seen = loud.stdout + loud.stderr
    assert all(n in seen for n in noise), seen                # the noise exists on this stack ...
    assert quiet.stdout + quiet.stderr == ""                  # ... and the CLI's filters remove it all
