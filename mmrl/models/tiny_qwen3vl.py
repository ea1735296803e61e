"""tiny-qwen3vl: a few-MB Qwen3-VL with random weights, built from a config, to prove the family
seam on both engines and in the trainer (16-pixel patches, interleaved M-RoPE, DeepStack). It knows
nothing: it only shows the multimodal mechanics. Tokenizer: SmolLM2's plus the vision tokens, with
smolvl's chat template."""
from __future__ import annotations

from pathlib import Path

from .cache import build_once
from .smollm2 import default_model_dir
from .smolvl import CHAT_TEMPLATE, VISION_TOKENS

NAME = "tiny-qwen3vl"
FACTOR = 32  # patch 16 x merge 2: pixels per language token along one side
MIN_PIXELS, MAX_PIXELS = FACTOR * FACTOR * 4, FACTOR * FACTOR * 64  # 4..64 language tokens per image
# Random weights ~ N(0, INIT_STD); the tied embedding wider (EMBED_STD), so the next-token
# distributions are far from uniform and a wrong position or a stale weight shows in the log-probs
# (with transformers' default 0.02 every token is about equally likely).
INIT_STD, EMBED_STD = 0.1, 0.5


def _build(out: Path) -> None:
    import torch
    from transformers import (AutoTokenizer, Qwen2VLImageProcessor, Qwen3VLConfig, Qwen3VLForConditionalGeneration,
                              Qwen3VLProcessor, Qwen3VLVideoProcessor)

    tok = AutoTokenizer.from_pretrained(default_model_dir())
    tok.add_special_tokens({"additional_special_tokens": VISION_TOKENS})
    ids = tok.convert_tokens_to_ids(VISION_TOKENS)
    # head_dim 64 on both towers: vLLM-CPU's attention kernels cover it (they do not cover every size)
    text = dict(vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, head_dim=64, hidden_act="silu",
                max_position_embeddings=4096, rms_norm_eps=1e-6, tie_word_embeddings=True,
                bos_token_id=1, eos_token_id=2, pad_token_id=2,
                rope_parameters={"rope_type": "default", "rope_theta": 5e5, "mrope_section": [12, 10, 10],
                                 "mrope_interleaved": True})
    vision = dict(depth=2, hidden_size=128, intermediate_size=256, num_heads=2, out_hidden_size=128, patch_size=16,
                  spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=256,
                  deepstack_visual_indexes=[0, 1], hidden_act="gelu_pytorch_tanh")
    config = Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True,
                           vision_start_token_id=ids[0], vision_end_token_id=ids[1],
                           image_token_id=ids[2], video_token_id=ids[3])
    torch.manual_seed(0)  # random weights: the same random on every machine
    model = Qwen3VLForConditionalGeneration(config).float()
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() >= 2:
                param.normal_(0.0, INIT_STD)
        model.get_input_embeddings().weight.normal_(0.0, EMBED_STD)
    model.tie_weights()
    model.generation_config.eos_token_id = model.generation_config.pad_token_id = 2
    model.save_pretrained(out)
    grid = dict(patch_size=16, merge_size=2, temporal_patch_size=2)
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, **grid),
        video_processor=Qwen3VLVideoProcessor(**grid), tokenizer=tok, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(out)


def tiny_qwen3vl_dir() -> Path:
    """The tiny-qwen3vl folder (built on first use, a few seconds)."""
    return build_once(NAME, _build)
