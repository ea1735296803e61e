"""vLLM colocated with the trainer on SmolLM2 (fp32): sampling log-probs equal the trainer's, weight
sync after an update restores that equality, and a skipped sync is caught."""
import pytest
import torch

from mmrl.errors import UserError
from mmrl.models import load_policy
from mmrl.rollout import GenRequest, SamplingConfig, build_engine
from rollout_checks import gsm8k_requests, in_sync, one_update, trainer_gap

pytestmark = pytest.mark.integration
SAMPLING = SamplingConfig(n=2, temperature=0.9, max_new_tokens=16, seed=3)


@pytest.fixture(scope="module")
def engine():
    engine = build_engine("vllm", "smollm2-135m-instruct", dtype="fp32", max_model_len=1024, max_prompt_len=512)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def trainer():
    return load_policy("smollm2-135m-instruct", "fp32")


def test_stop_token_seed_and_greedy_semantics(engine, trainer):
    model, tok = trainer
    requests = [GenRequest(tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                                   add_generation_prompt=True)) for q in ["Hi!", "Say yes or no."]]
    sampling = SamplingConfig(n=3, temperature=1.0, max_new_tokens=24, seed=7)
    a, b = engine.generate(requests, sampling), engine.generate(requests, sampling)
    assert [[c.token_ids for c in g] for g in a] == [[c.token_ids for c in g] for g in b]
    assert len({tuple(c.token_ids) for c in a[0]}) > 1  # the n samples differ
    greedy = engine.generate(requests[:1], SamplingConfig(n=1, temperature=0, max_new_tokens=24))
    finished = [c for g in a + greedy for c in g]
    assert {c.finish_reason for c in finished} == {"stop", "length"}  # greedy "Hi!" gets a short reply (runs before any update)
    for c in finished:  # the stop token is kept (the policy learns to stop) but not in the text
        assert (c.finish_reason == "stop") == (c.token_ids[-1] == tok.eos_token_id)
        assert tok.eos_token_id not in c.token_ids[:-1] and "<|im_end|>" not in c.text
        assert c.finish_reason == "stop" or len(c.token_ids) == 24
    assert in_sync(trainer_gap(model, tok, requests[:1], greedy, 1.0))  # greedy log-probs: plain softmax


def test_weight_sync_keeps_rollout_and_trainer_logprobs_equal(engine, trainer):
    model, tok = trainer
    # GSM8K prompts are >128 tokens with the system prompt: a full KV block, so the prefix cache is in play
    requests = gsm8k_requests(tok, 2)
    outputs = engine.generate(requests, SAMPLING)
    assert [len(g) for g in outputs] == [2, 2]
    assert all(len(c.prompt_ids) > 128 for g in outputs for c in g)
    before = trainer_gap(model, tok, requests, outputs, SAMPLING.temperature)
    assert in_sync(before), before

    one_update(model, tok, requests, outputs)
    stale = trainer_gap(model, tok, requests, engine.generate(requests, SAMPLING), SAMPLING.temperature)
    assert not in_sync(stale) and stale["logprob_gap_mean"] > 0.05, stale  # skipping the sync is caught

    engine.sync_weights(model.named_parameters())
    after = trainer_gap(model, tok, requests, engine.generate(requests, SAMPLING), SAMPLING.temperature)
    assert in_sync(after), after


def test_bad_sync_and_long_prompt_are_refused_before_touching_the_engine(engine, trainer):
    model, tok = trainer
    named = list(model.named_parameters())
    with pytest.raises(UserError, match=r"missing \['model.layers.0.self_attn.k_proj.weight'"):
        engine.sync_weights([(n, p) for n, p in named if "layers.0.self_attn.k_proj" not in n])
    with pytest.raises(UserError, match=r"unknown \['model.vision.x'\]"):
        engine.sync_weights(named + [("model.vision.x", torch.zeros(1))])
    long = GenRequest(tok.apply_chat_template([{"role": "user", "content": "word " * 600}], tokenize=False,
                                              add_generation_prompt=True))
    with pytest.raises(UserError, match=r"sample 1 .* tokens after image expansion, over max_prompt_len=512"):
        engine.generate(gsm8k_requests(tok, 1) + [long], SAMPLING)
    requests = gsm8k_requests(tok, 1)
    assert in_sync(trainer_gap(model, tok, requests, engine.generate(requests, SAMPLING), SAMPLING.temperature))


def test_a_released_engine_gives_its_memory_back_until_the_next_sync(engine, trainer):
    """The update runs with the engine released (mmrl/train/loop.py): its packed weights, embedding and
    KV cache leave the process, generating is refused, and the sync rebuilds an engine in step with
    the trainer."""
    import psutil

    model, tok = trainer
    requests = gsm8k_requests(tok, 2)
    engine.sync_weights(model.named_parameters())  # in step with the trainer, whatever ran before
    rss = psutil.Process().memory_info().rss
    engine.release()
    freed = rss - psutil.Process().memory_info().rss
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    # RSS counts touched pages only: after these short generations about half the cache's pages are
    # resident (0.499 of it freed, measured); a quarter leaves room for the allocator's noise and still
    # fails an engine that keeps its cache
    assert freed > weights + engine.kv_cache_bytes // 4, (freed, weights, engine.kv_cache_bytes)
    with pytest.raises(RuntimeError, match="sync_weights first"):
        engine.generate(requests, SAMPLING)
    engine.sync_weights(model.named_parameters())
    after = trainer_gap(model, tok, requests, engine.generate(requests, SAMPLING), SAMPLING.temperature)
    assert in_sync(after), after
