"""rollout.kv_cache_gb: auto sizes vLLM's KV cache to one step's sequences instead of a fixed GiB,
bounded by the training data's longest prompt (text, single-turn) or else data.max_prompt_tokens."""
import itertools

import pytest
import torch
from transformers import AutoConfig

from mmrl.models import load_processor, resolve_model
from mmrl.recipe import load_recipe
from mmrl.rollout.vllm import KV_BLOCK, KVNeed, kv_bytes_per_token
from mmrl.train import Trainer


def test_a_step_needs_its_prompts_blocks_once_and_each_samples_tail_and_response():
    # 8 prompts of up to 1024 tokens x 8 samples of 48 new tokens. The worst length is 1023: 7 full
    # blocks (shared by prefix caching) and per sample a 127-token partial block plus the response
    assert KVNeed(8, 8, 1024, 48).tokens() == 8 * (7 + 8 * 2) * KV_BLOCK
    assert KVNeed(1, 1, 10, 1).tokens() == 1 * KV_BLOCK
    assert KVNeed(2, 4, 300, 200).tokens() == 2 * (1 + 4 * 3) * KV_BLOCK  # the worst: 255 tokens
    # a 45-token prompt and 64 new tokens fit one block per sample (the versus-TRL task)
    assert KVNeed(8, 8, 45, 64).tokens() == 8 * (0 + 8 * 1) * KV_BLOCK


@pytest.mark.parametrize("n,new", [(1, 1), (8, 48), (3, 130)])
def test_the_bound_is_the_worst_prompt_length_under_it(n, new):
    for bound in itertools.chain(range(1, 400), [1023, 1024, 1025]):
        need = KVNeed(2, n, bound, new)
        assert need.tokens() == 2 * max(need.blocks(length) for length in range(1, bound + 1)) * KV_BLOCK
    more_samples, longer = KVNeed(8, 16, 1024, 48).tokens(), KVNeed(8, 8, 1024, 512).tokens()
    assert more_samples > KVNeed(8, 8, 1024, 48).tokens() and longer > KVNeed(8, 8, 1024, 48).tokens()


def test_bytes_per_token_from_the_config_text_and_vlm():
    config = AutoConfig.from_pretrained(resolve_model("smollm2-135m-instruct"))
    # 30 layers x (K and V) x 3 KV heads x 64 dims x 2 bytes
    assert kv_bytes_per_token(config, torch.bfloat16) == 30 * 2 * 3 * 64 * 2
    assert kv_bytes_per_token(config, torch.float32) == 30 * 2 * 3 * 64 * 4
    vlm = AutoConfig.from_pretrained(resolve_model("tiny-qwen3vl")).text_config  # the language model's shape
    expected = vlm.num_hidden_layers * 2 * vlm.num_key_value_heads * vlm.head_dim * 2
    assert kv_bytes_per_token(AutoConfig.from_pretrained(resolve_model("tiny-qwen3vl")), torch.bfloat16) == expected


def prompt_bound(recipe, samples) -> int:
    trainer = Trainer(recipe)
    trainer.samples, trainer.processor = samples, load_processor(resolve_model(recipe.backbone.model))
    trainer.tokenizer = trainer.processor
    return trainer._prompt_bound()


def test_text_prompts_bound_the_cache_by_the_longest_one():
    r = load_recipe("recipes/quickstart.yaml")
    assert r.rollout.kv_cache_gb == "auto"
    short = [{"question": "1 + 2 ="}, {"question": "What is 4 - 1? Answer with a number only, please."}]
    bound = prompt_bound(r, short)
    assert 20 < bound < 80  # the chat template's tokens and the longer question: ~50 tokens
    assert prompt_bound(r, short[:1]) < bound
    need = KVNeed(r.rollout.prompts_per_step, r.rollout.n, bound, r.rollout.max_new_tokens)
    config = AutoConfig.from_pretrained(resolve_model("smollm2-135m-instruct"))
    gib = need.tokens() * kv_bytes_per_token(config, torch.bfloat16) / 2**30
    assert gib < 0.2  # against 0.51 GiB for prompts up to data.max_prompt_tokens (1024)
    assert prompt_bound(r, [{"question": "x " * 5000}]) == r.data.max_prompt_tokens  # longer ones are skipped


def test_images_or_tool_turns_keep_the_recipes_bound():
    r = load_recipe("recipes/quickstart.yaml")
    assert prompt_bound(r, [{"question": "Count the shapes.", "images": ["a.png"]}]) == r.data.max_prompt_tokens
    tools = load_recipe("recipes/tool_python.yaml")
    assert prompt_bound(tools, [{"question": "1 + 2 ="}]) == tools.data.max_prompt_tokens


@pytest.mark.integration
def test_the_smallest_auto_cache_starts_vllm_and_serves_a_full_length_sequence():
    """A short prompt's need (2 prompts x 2 samples of 8 tokens) is below one max_model_len sequence:
    the cache is raised to that, plus the block vLLM keeps aside (without it vLLM refused to start)."""
    from mmrl.rollout.base import GenRequest, SamplingConfig
    from mmrl.rollout.vllm import VLLMEngine

    engine = VLLMEngine("smollm2-135m-instruct", dtype="float32", kv_cache=KVNeed(2, 2, 40, 8), max_model_len=1032)
    try:
        out = engine.generate([GenRequest("1 + 2 =")], SamplingConfig(n=2, max_new_tokens=8, temperature=1.0))
        assert len(out[0]) == 2 and all(c.token_ids for c in out[0])
    finally:
        engine.close()
