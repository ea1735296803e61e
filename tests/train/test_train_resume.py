"""Resume: SIGKILL a run after its step-1 checkpoint, resume with resume=auto, and the following
steps' metrics and the final weights equal those of an uninterrupted run (deterministic settings:
fp32, HF rollouts seeded per step, one thread). Also: a finished run resumes to zero new steps
without error, and the exported HF folder loads in transformers."""
import signal
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mmrl.models.backbone import has_bf16
from train_runs import TINY, metrics, start_train, train

STEPS = 2
VOLATILE = ("time", "throughput/", "lr", "memory/")  # wall-clock and process-history dependent
ARGS = (f"training.steps={STEPS}", "training.deterministic=true", "logging.eval_samples=0", "checkpoint.export=true")


def rows(run_dir: Path) -> dict[int, dict]:
    return {step: {k: v for k, v in row.items() if not k.startswith(VOLATILE)}
            for step, row in metrics(run_dir).items()}


@pytest.mark.integration
@pytest.mark.parametrize("dtype", ["float32", pytest.param("bfloat16", marks=pytest.mark.skipif(
    not has_bf16(), reason="bf16 on this CPU runs a reference kernel (~20x slower): checked where bf16 is native"))])
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, dtype):
    """bfloat16: one rank then trains with DeepSpeed's BF16 optimizer (zero_stage auto), whose fp32
    master weights, gradients and Adam states must come back from the checkpoint too."""
    full, killed = tmp_path / "full", tmp_path / "killed"
    args = (*ARGS, f"backbone.dtype={dtype}")
    train(TINY, full, *args)

    proc = start_train(TINY, killed, *args)
    marker = killed / "checkpoints" / "step_1" / "COMPLETE"
    deadline = time.time() + 900
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    assert marker.exists(), "no step-1 checkpoint appeared"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (killed / "hf").exists() and max(rows(killed)) < STEPS

    out = train(TINY, killed, *args, "checkpoint.resume=auto")
    assert "resumed from" in out and "step_1" in out
    a, b = rows(full), rows(killed)
    assert sorted(b) == sorted(a) == list(range(1, STEPS + 1))
    for step in range(2, STEPS + 1):
        assert b[step] == a[step], f"step {step} differs after resume"
    assert a[STEPS]["pg_loss"] != 0 or a[STEPS]["reward/mean"] > 0  # the steps did real work
    # what the policy wrote (samples.jsonl): the same answers, none repeated or lost across the resume
    written = (full / "samples.jsonl").read_text()
    assert written and (killed / "samples.jsonl").read_text() == written

    wa, wb = load_file(full / "hf" / "model.safetensors"), load_file(killed / "hf" / "model.safetensors")
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name

    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(full / "hf")
    AutoTokenizer.from_pretrained(full / "hf")
    trained = dict(model.named_parameters())["model.layers.0.self_attn.q_proj.weight"]
    assert torch.equal(trained, wa["model.layers.0.self_attn.q_proj.weight"])

    # resuming a finished run trains zero steps, says so, and exits cleanly
    again = train(TINY, full, *args, "checkpoint.resume=auto")
    assert f"already at step {STEPS}" in again and max(rows(full)) == STEPS
