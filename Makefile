# The two commands of the README. Both set up first (quick when already set up).
PY := .venv/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup main test test-fast
setup:
	@bash scripts/setup.sh

# The main job: for now, verify every GSM8K gold answer against itself with `mmrl verify`.
main: setup
	@$(PY) scripts/gsm8k_gold_batch.py runs/gsm8k_gold_in.jsonl
	@.venv/bin/mmrl verify --batch runs/gsm8k_gold_in.jsonl --out runs/gsm8k_gold_out.jsonl --verifier math

# Unit tests and the integration tests on the real engines.
test: setup
	@$(PY) -m pytest tests

test-fast: setup
	@$(PY) -m pytest tests -m "not integration"
