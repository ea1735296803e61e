"""The family seam, proven on a second family: tiny-qwen3vl (Qwen3-VL layout, random weights: 16-pixel
patches, interleaved M-RoPE, DeepStack) rolls out real Geometry3K diagrams and a text-only prompt on
both engines with the trainer's log-probs (fp32), a training step (token_logprobs over sequence_batch,
one AdamW step) reaches the vision tower, and after the weight sync both engines match again."""
import pytest
import torch

from mmrl.models import load_policy
from mmrl.rollout import GenRequest, SamplingConfig, build_engine
from rollout_checks import geometry_requests, in_sync, one_update, trainer_gap

pytestmark = pytest.mark.integration
SAMPLING = SamplingConfig(n=2, temperature=1.0, max_new_tokens=12, seed=5)


@pytest.fixture(scope="module")
def vllm_engine():
    engine = build_engine("vllm", "tiny-qwen3vl", dtype="fp32", max_model_len=1024)
    yield engine
    engine.close()


def test_both_engines_match_the_trainer_before_and_after_a_synced_update(vllm_engine):
    model, proc = load_policy("tiny-qwen3vl", "fp32")
    hf_engine = build_engine("hf", "tiny-qwen3vl", dtype="fp32")  # its own copy: the sync is exercised
    text = GenRequest(proc.apply_chat_template([{"role": "user", "content": "Describe a triangle."}],
                                               tokenize=False, add_generation_prompt=True))
    requests = [text] + geometry_requests(proc, (11, 12))  # a text-only prompt before the image prompts
    engines = {"vllm": vllm_engine, "hf": hf_engine}
    outputs = {name: e.generate(requests, SAMPLING) for name, e in engines.items()}
    for name, out in outputs.items():
        gap = trainer_gap(model, proc, requests, out, SAMPLING.temperature)
        print(name, "before update", gap)  # shown with -s: the numbers docs/engines.md quotes
        assert in_sync(gap), (name, gap)
    # Qwen3-VL refuses image inputs without mm_token_type_ids (Qwen2.5-VL silently mis-positions them)
    with pytest.raises(ValueError, match="mm_token_type_ids"):
        trainer_gap(model, proc, requests, outputs["hf"], 1.0, with_mm_types=False)

    visual = model.model.visual.patch_embed.proj.weight
    old_visual = visual.detach().clone()
    one_update(model, proc, requests, outputs["vllm"])  # the trainer's log-prob path + an optimizer step
    assert not torch.equal(visual, old_visual)  # the update reached the vision tower
    for name, engine in engines.items():
        stale = trainer_gap(model, proc, requests, engine.generate(requests, SAMPLING), SAMPLING.temperature)
        print(name, "stale", stale)
        assert not in_sync(stale), (name, stale)
        engine.sync_weights(model.named_parameters())
        after = trainer_gap(model, proc, requests, engine.generate(requests, SAMPLING), SAMPLING.temperature)
        print(name, "after sync", after)
        assert in_sync(after), (name, after)
