"""mmrl_verifiers is usable without torch: importing it (and every built-in verifier module) never
imports torch, and the package installs alone into a clean virtual environment."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

VERIFIERS = Path(__file__).resolve().parents[2] / "verifiers"

IMPORT_ALL = textwrap.dedent("""
    import importlib, sys
    import mmrl_verifiers
    from mmrl_verifiers import registry
    modules = sorted({registry.spec(n).target.partition(":")[0] for n in registry.names()})
    for name in modules + ["mmrl_verifiers.adapters", "mmrl_verifiers.jsonl"]:
        importlib.import_module(name)
    heavy = sorted(m for m in ("torch", "transformers", "vllm", "deepspeed") if m in sys.modules)
    print(len(modules), heavy)
""")


def test_import_does_not_pull_in_torch():
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    count, heavy = out.stdout.split(" ", 1)
    assert int(count) >= 3 and heavy.strip() == "[]", out.stdout


CHECK = textwrap.dedent(r"""
    import importlib.util, sys
    from mmrl_verifiers import verify, VerifierPool
    import mmrl_verifiers.format, mmrl_verifiers.math, mmrl_verifiers.mcq, mmrl_verifiers.adapters
    assert importlib.util.find_spec("torch") is None, "torch is installed in the clean venv"
    assert verify("math", r"so \boxed{\frac{1}{2}}", "0.5").score == 1.0
    assert verify("mcq", "The answer is (C).", "C").score == 1.0
    if __name__ == "__main__":
        with VerifierPool(workers=1) as pool:
            assert pool.map([{"verifier": "math", "response": r"\boxed{4}", "gold": "4"}])[0].score == 1.0
    print("ok")
""")


@pytest.mark.integration
def test_installs_alone_into_a_clean_venv(tmp_path):
    """Build the wheel offline with this venv's setuptools, then `pip install` it into a clean venv
    (no system site-packages): its dependencies come from the package indexes configured for pip.
    About 40 s on the shared machine, mostly unpacking sympy and scipy."""
    src = tmp_path / "src"  # a copy, so the build never writes into the shared working tree
    src.mkdir()
    (src / "pyproject.toml").write_text((VERIFIERS / "pyproject.toml").read_text())
    subprocess.run(["cp", "-r", str(VERIFIERS / "mmrl_verifiers"), str(src)], check=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", str(src), "-w", str(tmp_path / "dist")],
                   check=True, capture_output=True, timeout=120)
    venv = tmp_path / "venv"  # no pip inside: this venv's pip installs into it (--python), much faster
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    wheel = next((tmp_path / "dist").glob("mmrl_verifiers-*.whl"))
    # --no-compile: byte-compiling sympy and scipy takes most of the install time on a busy machine
    install = subprocess.run(pip + ["--python", py, "install", "--no-compile", str(wheel)],
                             capture_output=True, text=True, timeout=400)
    assert install.returncode == 0, install.stderr[-3000:]
    (tmp_path / "check.py").write_text(CHECK)
    out = subprocess.run([py, str(tmp_path / "check.py")], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
