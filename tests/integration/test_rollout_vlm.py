"""smolvl (Qwen2.5-VL with SmolLM2's language model) on real Geometry3K diagrams: vLLM rollouts with
images match the trainer's log-probs (mm_token_type_ids included), weight sync covers the vision
tower, and the multimodal guards hold: no generated image pads, no prompt truncated through images."""
import contextlib
import logging

import pytest
import torch

from mmrl._quiet import _DROPPED, _Drop
from mmrl.errors import UserError
from mmrl.models import encode_prompt, load_policy
from mmrl.rollout import GenRequest, SamplingConfig, build_engine
from mmrl.rollout.guards import banned_tokens
from rollout_checks import geometry_requests, in_sync, one_update, trainer_gap

pytestmark = pytest.mark.integration
LAYERWISE = "vllm.model_executor.model_loader.reload.layerwise"
SAMPLING = SamplingConfig(n=2, temperature=1.0, max_new_tokens=12, seed=5)
MAX_PROMPT = 240


@pytest.fixture(scope="module")
def engine():
    engine = build_engine("vllm", "smolvl", dtype="fp32", max_model_len=1024, max_prompt_len=MAX_PROMPT)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def trainer():
    return load_policy("smolvl", "fp32")


@contextlib.contextmanager
def reload_warnings():
    """What vLLM's layerwise reload logs, with any filters (the CLI's) lifted meanwhile."""
    logger, seen = logging.getLogger(LAYERWISE), []
    handler, filters = logging.Handler(logging.WARNING), logger.filters[:]
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.filters.clear()
    logger.addHandler(handler)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.filters[:] = filters


def test_image_rollouts_match_the_trainer_before_and_after_a_synced_update(engine, trainer):
    model, proc = trainer
    requests = geometry_requests(proc, (11, 12))
    outputs = engine.generate(requests, SAMPLING)
    assert in_sync(trainer_gap(model, proc, requests, outputs, SAMPLING.temperature))
    # the pitfall the batch helper guards against: without mm_token_type_ids the image positions go wrong
    assert trainer_gap(model, proc, requests, outputs, 1.0, with_mm_types=False)["logprob_gap_mean"] > 0.05

    visual = model.model.visual.patch_embed.proj.weight
    old_visual = visual.detach().clone()
    one_update(model, proc, requests, outputs)
    assert not torch.equal(visual, old_visual)  # the update reached the vision tower
    stale = trainer_gap(model, proc, requests, engine.generate(requests, SAMPLING), SAMPLING.temperature)
    assert not in_sync(stale), stale

    engine.release()  # as the trainer does before each update: the sync rebuilds the tower's weights too
    with reload_warnings() as warned:
        engine.sync_weights(model.named_parameters())
    # only layers without checkpoint weights, and the tied head the sync rebuilds, "fail to load";
    # the CLI drops exactly those lines, so any other layer's failure would still be seen
    assert warned and {w.split(":")[0] for w in warned} <= {"RotaryEmbedding", "MRotaryEmbedding", "FusedMMInputNorm",
                                                          "ParallelLMHead"}, warned
    assert not any(_Drop(_DROPPED[LAYERWISE]).filter(logging.makeLogRecord({"msg": w})) for w in warned)
    # the same images again: the encoder cache must have been reset with the weights
    after = trainer_gap(model, proc, requests, engine.generate(requests, SAMPLING), SAMPLING.temperature)
    assert in_sync(after), after


def test_prompt_that_only_fits_before_image_expansion_is_refused(engine, trainer):
    _, proc = trainer
    long = geometry_requests(proc, (14,))[0]  # the 628x453 diagram expands to hundreds of image tokens
    text_only = len(proc.tokenizer.encode(long.prompt, add_special_tokens=False))
    expanded = encode_prompt(proc, long.prompt, long.images)["input_ids"].shape[1]
    assert text_only < MAX_PROMPT < expanded
    with pytest.raises(UserError, match=f"sample 1 .*prompt is {expanded} tokens after image expansion"):
        engine.generate(geometry_requests(proc, (11,)) + [long], SAMPLING)
    with pytest.raises(UserError, match="sample 0 .*1 image placeholder.* but 0 image"):
        engine.generate([GenRequest(long.prompt)], SAMPLING)


def test_generated_image_pads_are_prevented_in_both_engines(engine, trainer):
    # Adversarial weights: make <|image_pad|> the model's first greedy token (tied embedding row =
    # 2x the row of the token it would pick), then check each engine never emits a vision token.
    model, proc = trainer
    pad = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    vision_ids = set(banned_tokens(proc.tokenizer).values())
    request = GenRequest(proc.apply_chat_template([{"role": "user", "content": "Describe a triangle."}],
                                                  tokenize=False, add_generation_prompt=True))
    enc = encode_prompt(proc, request.prompt)
    emb = model.get_input_embeddings().weight
    saved = emb.detach().clone()
    with torch.no_grad():
        first = model(**enc).logits[0, -1].argmax()
        emb[pad] = 2 * emb[first]
        assert model(**enc).logits[0, -1].argmax() == pad
    greedy = SamplingConfig(n=1, temperature=0, max_new_tokens=6)
    try:
        hf = build_engine("hf", "smolvl", model=model, processor=proc)
        engine.sync_weights(model.named_parameters())
        for eng in (hf, engine):
            guarded = eng.generate([request], greedy)[0][0].token_ids
            assert not vision_ids & set(guarded)
            eng.banned = []  # the guard off: the adversarial model does emit the pad
            try:
                assert eng.generate([request], greedy)[0][0].token_ids[0] == pad
            finally:
                eng.banned = sorted(vision_ids) if eng is hf else list(banned_tokens(proc.tokenizer))
    finally:
        with torch.no_grad():
            emb.copy_(saved)
        engine.sync_weights(model.named_parameters())
