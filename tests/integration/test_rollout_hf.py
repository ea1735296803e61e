"""The transformers-generate engine on SmolLM2 (fp32): batched left-padded sampling whose log-probs
equal the trainer's, seeded reproducibility, and weight sync from the trainer."""
import pytest

from mmrl.models import load_policy
from mmrl.rollout import SamplingConfig, build_engine
from rollout_checks import gsm8k_requests, in_sync, one_update, trainer_gap

pytestmark = pytest.mark.integration


def test_hf_engine_logprobs_seed_and_sync():
    engine = build_engine("hf", "smollm2-135m-instruct", dtype="fp32")
    model, tok = load_policy("smollm2-135m-instruct", "fp32")
    requests = gsm8k_requests(tok, 2, start=3, one_shot=False)  # different lengths: left padding in one batch
    sampling = SamplingConfig(n=2, temperature=0.8, top_p=1.0, max_new_tokens=12, seed=11)
    outputs = engine.generate(requests, sampling)
    assert [[c.token_ids for c in g] for g in outputs] == \
        [[c.token_ids for c in g] for g in engine.generate(requests, sampling)]
    assert in_sync(trainer_gap(model, tok, requests, outputs, sampling.temperature))

    one_update(model, tok, requests, outputs)
    assert not in_sync(trainer_gap(model, tok, requests, engine.generate(requests, sampling), sampling.temperature))
    engine.sync_weights(model.named_parameters())
    assert in_sync(trainer_gap(model, tok, requests, engine.generate(requests, sampling), sampling.temperature))
