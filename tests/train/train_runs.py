"""Runs `mmrl train` in a subprocess, as a user would (the deepspeed launcher and vLLM need their
own processes), and reads a run folder's metrics."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
TINY = ROOT / "tests" / "train" / "tiny.yaml"


# set in this process by in-process engine tests (single_rank_env), whose store may still hold the port
DISTRIBUTED = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}


def start_train(recipe: Path, run_dir: Path, *overrides: str) -> subprocess.Popen:
    """A fresh shell's environment: without this process's distributed settings (a run that inherited
    MASTER_PORT failed with EADDRINUSE when it followed tests/train/test_zero_stages.py)."""
    env = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED}
    env.update({"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"})
    cmd = [sys.executable, "-m", "mmrl.cli", "train", str(recipe), f"output_dir={run_dir}", *overrides]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def train(recipe: Path, run_dir: Path, *overrides: str) -> str:
    proc = start_train(recipe, run_dir, *overrides)
    out, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, out[-4000:]
    return out


def metrics(run_dir: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row for row in rows}
