# The two commands of the README. Both set up first (quick when already set up).
PY := .venv/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup main test test-fast
setup:
	@bash scripts/setup.sh

# The main job: RL-train SmolLM2 on one-digit arithmetic with GRPO (vLLM rollouts, DeepSpeed),
# held-out accuracy before and after, reward curve in runs/quickstart/reward.png (docs/training.md).
main: setup
	@.venv/bin/mmrl train recipes/quickstart.yaml

# Unit tests and the integration tests on the real engines: one test file per worker, a worker per
# core (at most 4: each may hold a model and a vLLM engine); the 25 slowest tests listed at the end.
XDIST := --numprocesses auto --maxprocesses 4 --dist loadfile
test: setup
	@$(PY) -m pytest tests $(XDIST) --durations 25

test-fast: setup
	@$(PY) -m pytest tests $(XDIST) -m "not integration"
