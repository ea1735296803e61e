"""The GPU variant's requirement files (scripts/setup.sh with MMRL_GPU=1; docs/gpu.md).

    python scripts/gpu_requirements.py stack OUT          # OUT: the requirements to install
    python scripts/gpu_requirements.py freeze REPORT      # requirements/gpu-lock.txt from a pip report

`stack`: requirements/stack.txt without the packages requirements/gpu.txt pins, then gpu.txt; one
source of truth, the CPU files stay as they are and gpu.txt holds only the deltas.
`freeze`: every package of a `pip install --dry-run --report` resolution of that file, pinned, so a
GPU machine installs what the resolution check (tests/integration/test_gpu_requirements.py) saw.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REQ = Path(__file__).resolve().parent.parent / "requirements"
LOCK_HEADER = """# The GPU stack, every package pinned: a pip dry-run resolution of requirements/stack.txt with
# requirements/gpu.txt's pins (python scripts/gpu_requirements.py stack), frozen with
# `python scripts/gpu_requirements.py freeze REPORT`. Regenerate after changing either file:
#   python scripts/gpu_requirements.py stack /tmp/gpu-stack.txt
#   pip install --dry-run --ignore-installed --use-feature=fast-deps --report /tmp/r.json -r /tmp/gpu-stack.txt
#   python scripts/gpu_requirements.py freeze /tmp/r.json
"""


def name(line: str) -> str | None:
    """The normalized package name a requirement line is about (None for comments and blanks)."""
    line = line.split("#", 1)[0].strip()
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else None


def stack_lines() -> list[str]:
    gpu = (REQ / "gpu.txt").read_text().splitlines()
    replaced = {n for n in map(name, gpu) if n}
    return [line for line in (REQ / "stack.txt").read_text().splitlines() if name(line) not in replaced] + gpu


def freeze(report: Path) -> str:
    items = json.loads(report.read_text())["install"]
    pins = sorted(f"{name(i['metadata']['name'])}=={i['metadata']['version']}" for i in items)
    return LOCK_HEADER + "\n".join(pins) + "\n"


if __name__ == "__main__":
    command, path = sys.argv[1], Path(sys.argv[2])
    if command == "stack":
        path.write_text("\n".join(stack_lines()) + "\n")
    elif command == "freeze":
        (REQ / "gpu-lock.txt").write_text(freeze(path))
    else:
        sys.exit(f"unknown command {command!r}: stack OUT | freeze REPORT")
