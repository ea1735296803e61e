"""Rollout-mismatch correction in a real run (issue #15): vLLM rollouts in bf16, the trainer in fp32,
Seq-MIS on top of GRPO. The engine's log-probs reach the loss as a declared input; the correction's
weights and masked fraction are logged every step. The band is tight on purpose (bf16 sampling is
off by ~0.04 nats a token), so some sequences must be masked."""
import math

import pytest

from train_runs import TINY, metrics, train


@pytest.mark.integration
def test_seq_mis_on_vllm_bf16_logs_weights_and_masks_sequences(tmp_path):
    run = tmp_path / "run"
    train(TINY, run, "rollout.engine=vllm", "rollout.dtype=bfloat16", "training.steps=2", "logging.eval_samples=0",
          "checkpoint.every=0", "algorithm.rollout_correction={mode: seq_mis, clip_max: 1.01}")
    for step, row in metrics(run).items():
        assert row["logprob_gap/mean"] > 1e-3  # bf16 engine vs fp32 trainer: a real mismatch to correct
        lo, mean, hi, masked = (row[k] for k in ("rollout_is_min", "rollout_is_mean", "rollout_is_max",
                                                 "rollout_masked_frac"))
        assert all(math.isfinite(v) for v in (lo, mean, hi, masked))
        assert 0 <= lo <= mean <= hi and 0 < masked <= 1, row
