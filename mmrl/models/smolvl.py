"""smolvl: a small Qwen2.5-VL for multimodal tests and demos. Its language model is SmolLM2-135M-
Instruct (weights copied in, so on text it gives SmolLM2's logits); its 4.6M-parameter vision tower
and merger were trained here on rendered scenes (scripts/pretrain_smolvl.py; the file's metadata
holds the command's settings and seed; docs/scenes.md) and ship as VISION_WEIGHTS.
`smolvl-random` is the same model with the tower as initialised (seed 0): where alignment starts,
and the control for what the trained tower adds. Recipe and checks: shared/spec/vllm_cpu_sync.md, Q2."""
from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path

from .cache import build_once
from .smollm2 import default_model_dir

NAME, RANDOM_NAME = "smolvl", "smolvl-random"
VISION_WEIGHTS = Path(__file__).with_name("smolvl_vision.safetensors")
VISION_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
MIN_PIXELS, MAX_PIXELS = 28 * 28 * 4, 28 * 28 * 256  # 4..256 language tokens per image

# SmolLM2's template (default system prompt included), extended to list content with images.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}{{ '<|im_start|>' + message['role'] + '\\n' }}{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' or c['type'] == 'image_url' or c['type'] == 'image_pil' %}"
    "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}{% elif c['type'] == 'video' %}"
    "{{ '<|vision_start|><|video_pad|><|vision_end|>' }}{% elif c['type'] == 'text' %}{{ c['text'] }}"
    "{% endif %}{% endfor %}{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _build(out: Path, vision_weights: Path | None) -> None:
    import torch
    from transformers import (AutoModelForCausalLM, AutoTokenizer, Qwen2_5_VLConfig,
                              Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor,
                              Qwen2VLImageProcessor, Qwen2VLVideoProcessor)

    src = default_model_dir()
    tok = AutoTokenizer.from_pretrained(src)
    tok.add_special_tokens({"additional_special_tokens": VISION_TOKENS})
    ids = tok.convert_tokens_to_ids(VISION_TOKENS)
    vocab = len(tok)
    text = dict(vocab_size=vocab, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                num_attention_heads=9, num_key_value_heads=3, hidden_act="silu", max_position_embeddings=8192,
                rms_norm_eps=9.999999747378752e-06, tie_word_embeddings=True, use_sliding_window=False,
                bos_token_id=1, eos_token_id=2, pad_token_id=2,
                rope_parameters={"rope_type": "default", "rope_theta": 1e5, "mrope_section": [8, 12, 12]})
    vision = dict(depth=4, hidden_size=256, intermediate_size=512, num_heads=4, out_hidden_size=576, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[1, 3],
                  hidden_act="silu")
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True,
                              vision_start_token_id=ids[0], vision_end_token_id=ids[1],
                              image_token_id=ids[2], video_token_id=ids[3])
    torch.manual_seed(0)  # the vision tower is random: make it the same random on every machine
    vl = Qwen2_5_VLForConditionalGeneration(config).float()
    target = vl.state_dict()
    weights = {}
    for key, value in AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).state_dict().items():
        if key == "lm_head.weight":
            continue  # tied to the embedding
        if key == "model.embed_tokens.weight":  # new vision-token rows = the mean embedding
            value = torch.cat([value, value.mean(0, keepdim=True).expand(vocab - value.shape[0], -1)])
        weights["model.language_model." + key.removeprefix("model.")] = value
    for key in target:  # Qwen2 attention has q/k/v biases, Llama has none
        if key.startswith("model.language_model.") and key.endswith(("q_proj.bias", "k_proj.bias", "v_proj.bias")):
            weights[key] = torch.zeros_like(target[key])
    missing, unexpected = vl.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.startswith("model.visual.") or k == "lm_head.weight" for k in missing)
    vl.tie_weights()
    if vision_weights is not None:
        from ..scenes.align import load_vision
        load_vision(vl, vision_weights)
    vl.generation_config.eos_token_id = vl.generation_config.pad_token_id = 2
    vl.save_pretrained(out)
    processor = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS),
                                    tokenizer=tok, video_processor=Qwen2VLVideoProcessor(), chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(out)


def test_vlm_dir() -> Path:
    """The smolvl folder (built from the default model and the shipped tower on first use, about
    1 min); named by the tower file's hash, so new weights make a new folder."""
    digest = hashlib.sha256(VISION_WEIGHTS.read_bytes()).hexdigest()[:12]
    return build_once(f"{NAME}-{digest}", partial(_build, vision_weights=VISION_WEIGHTS))


def random_vlm_dir() -> Path:
    """smolvl with its vision tower as initialised (seed 0), before any training."""
    return build_once(RANDOM_NAME, partial(_build, vision_weights=None))


test_vlm_dir.__test__ = False  # not a pytest test despite its name
