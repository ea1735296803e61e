"""Unit tests of the backbone helpers: build-once cache, model resolution, memory-lean log-probs,
prompt+completion batches. Tiny random transformers models only (real code, no downloads)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from mmrl.errors import UserError
from mmrl.models import resolve_model, sequence_batch, token_logprobs
from mmrl.models.cache import build_once

REPO = Path(__file__).resolve().parents[1]


def test_build_once_builds_once_under_concurrent_first_use(tmp_path):
    # Three processes ask for the same folder at once; the slow build must run exactly once and
    # everyone must get the complete folder.
    script = textwrap.dedent("""
        import importlib.util, sys, time
        spec = importlib.util.spec_from_file_location("cache", "mmrl/models/cache.py")  # skip torch imports
        cache = importlib.util.module_from_spec(spec); spec.loader.exec_module(cache)
        def build(tmp):
            with open(sys.argv[1], "a") as log: log.write("built\\n")
            time.sleep(1.0)
            (tmp / "weights.bin").write_text("complete")
        print(cache.build_once("m", build))
    """)
    log = tmp_path / "builds.log"
    env = dict(os.environ, MMRL_CACHE=str(tmp_path / "cache"))
    procs = [subprocess.Popen([sys.executable, "-c", script, str(log)], env=env, cwd=REPO, stdout=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert log.read_text().count("built") == 1
    assert len(set(outs)) == 1 and (Path(outs[0]) / "weights.bin").read_text() == "complete"


def test_build_once_failed_build_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MMRL_CACHE", str(tmp_path))

    def broken(tmp):
        (tmp / "half.bin").write_text("x")
        raise RuntimeError("conversion failed")

    with pytest.raises(RuntimeError):
        build_once("m", broken)
    assert not (tmp_path / "models" / "m").exists()
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["m.lock"]  # temp dir cleaned up
    path = build_once("m", lambda tmp: (tmp / "ok").write_text("y"))
    assert (path / "ok").read_text() == "y"


def test_resolve_model_refuses_hub_ids_and_bad_folders(tmp_path):
    with pytest.raises(UserError, match="hubs are not used"):
        resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(UserError, match="no config.json"):
        resolve_model(tmp_path)
    with pytest.raises(UserError, match="smollm2-135m-instruct, smolvl"):
        resolve_model("not-a-model")
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path)) == tmp_path


def tiny_llama(vocab=300):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    return LlamaForCausalLM(config).float()


def naive_logprobs(model, seq, temperature):
    """Full-vocabulary reference: log_softmax(logits / T) of each next token, no padding."""
    logits = model(input_ids=torch.tensor([seq])).logits[0, :-1].float() / temperature
    logp = torch.log_softmax(logits, -1)
    return logp.gather(-1, torch.tensor(seq[1:])[:, None])[:, 0], -(logp.exp() * logp).sum(-1)


def test_token_logprobs_matches_full_softmax_with_padding_chunks_and_grads():
    model = tiny_llama()
    prompts = [{"input_ids": torch.tensor([[5, 6, 7, 8, 9]])}, {"input_ids": torch.tensor([[11, 12]])}]
    completions = [[20, 21, 22], [30, 31, 32, 33, 34, 35]]
    batch = sequence_batch(prompts, completions, pad_id=0)  # right padding
    # the same rows left-padded: positions must follow the real tokens, not the padding
    left = {k: torch.stack([torch.roll(r, int((1 - m).sum())) for r, m in zip(v, batch["attention_mask"])])
            for k, v in batch.items() if k != "mm_inputs"}
    temperature = 0.7
    for b in (batch, left):
        lp, ent = token_logprobs(model, b["input_ids"], b["attention_mask"], b["completion_mask"],
                                 temperature=temperature, with_entropy=True, chunk_size=2)
        assert lp.dtype == torch.float32 and lp.shape == b["input_ids"].shape
        assert torch.all(lp[b["completion_mask"] == 0] == 0)
        for row, (p, c) in enumerate(zip(prompts, completions)):
            ref_lp, ref_ent = naive_logprobs(model, p["input_ids"][0].tolist() + c, temperature)
            mask = b["completion_mask"][row] == 1
            torch.testing.assert_close(lp[row][mask], ref_lp[-len(c):], atol=1e-5, rtol=0)
            torch.testing.assert_close(ent[row][mask], ref_ent[-len(c):], atol=1e-5, rtol=0)

    # gradients through the checkpointed chunks equal the naive ones
    weights = torch.randn(batch["input_ids"].shape)
    model.zero_grad()
    (token_logprobs(model, batch["input_ids"], batch["attention_mask"], batch["completion_mask"], chunk_size=2)
     * weights).sum().backward()
    ours = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    total = 0
    for row, (p, c) in enumerate(zip(prompts, completions)):
        n_prompt = p["input_ids"].shape[1]
        ref, _ = naive_logprobs(model, p["input_ids"][0].tolist() + c, 1.0)
        total = total + (ref[-len(c):] * weights[row, n_prompt:n_prompt + len(c)]).sum()
    total.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(ours[name], param.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_sequence_batch_pads_mm_token_types_with_zeros_over_the_completion():
    p1 = {"input_ids": torch.tensor([[1, 9, 9, 2]]), "mm_token_type_ids": torch.tensor([[0, 1, 1, 0]]),
          "pixel_values": torch.ones(8, 3), "image_grid_thw": torch.tensor([[1, 2, 4]])}
    p2 = {"input_ids": torch.tensor([[1, 2]]), "mm_token_type_ids": torch.tensor([[0, 0]])}
    b = sequence_batch([p1, p1, p2], [[5, 6], [7], [8, 9, 10]], pad_id=0)
    assert b["input_ids"].tolist() == [[1, 9, 9, 2, 5, 6], [1, 9, 9, 2, 7, 0], [1, 2, 8, 9, 10, 0]]
    assert b["completion_mask"].tolist() == [[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 0], [0, 0, 1, 1, 1, 0]]
    assert b["attention_mask"].tolist() == [[1] * 6, [1] * 5 + [0], [1] * 5 + [0]]
    assert b["mm_inputs"]["mm_token_type_ids"].tolist() == [[0, 1, 1, 0, 0, 0], [0, 1, 1, 0, 0, 0], [0] * 6]
    assert b["mm_inputs"]["pixel_values"].shape == (16, 3)  # row 0's and row 1's image, in row order
    assert b["mm_inputs"]["image_grid_thw"].tolist() == [[1, 2, 4], [1, 2, 4]]
