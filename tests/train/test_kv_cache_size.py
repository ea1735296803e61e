"""rollout.kv_cache_gb: auto sizes vLLM's KV cache to one step's sequences instead of a fixed GiB."""
import torch
from transformers import AutoConfig

from mmrl.models import resolve_model
from mmrl.recipe import load_recipe
from mmrl.rollout.vllm import KV_BLOCK, KVNeed, kv_bytes_per_token


def test_a_step_needs_its_prompts_blocks_once_and_each_samples_tail_and_response():
    # 8 prompts of up to 1024 tokens (8 full blocks, shared by prefix caching) x 8 samples of 48 new
    # tokens: each sample's own blocks hold a partial prompt block (up to 127 tokens) and its response
    assert KVNeed(8, 8, 1024, 48).tokens() == 8 * (8 + 8 * 2) * KV_BLOCK
    assert KVNeed(1, 1, 10, 1).tokens() == 1 * KV_BLOCK
    assert KVNeed(2, 4, 300, 200).tokens() == 2 * (2 + 4 * 3) * KV_BLOCK
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


def test_the_quickstart_gets_about_half_a_gib_instead_of_one():
    r = load_recipe("recipes/quickstart.yaml")
    assert r.rollout.kv_cache_gb == "auto"
    need = KVNeed(r.rollout.prompts_per_step, r.rollout.n, r.data.max_prompt_tokens, r.rollout.max_new_tokens)
    config = AutoConfig.from_pretrained(resolve_model("smollm2-135m-instruct"))
    gib = need.tokens() * kv_bytes_per_token(config, torch.bfloat16) / 2**30
    assert 0.3 < gib < 0.6
