"""Zoom on a VLM processor (smolvl's, built without its model): the tool turn shows the enlarged
crop as an image whose placeholder is expanded to the right number of image tokens, the driver
records the image as the model saw it, and none of those tokens is in the policy mask."""
import numpy as np
import pytest
from PIL import Image

from mmrl.models.backbone import image_tokens
from mmrl.rollout.base import GenRequest, SamplingConfig
from mmrl.rollout.multiturn import generate_with_tools
from mmrl.tools import ToolConfig
from mmrl.tools.turns import ToolTurns
from fake_engine import FakeEngine


@pytest.fixture(scope="module")
def vl_processor(tokenizer):
    from transformers import AutoTokenizer, Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor
    from mmrl.models import smolvl

    tok = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    tok.add_special_tokens({"additional_special_tokens": smolvl.VISION_TOKENS})
    return Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(min_pixels=smolvl.MIN_PIXELS,
                                                                    max_pixels=smolvl.MAX_PIXELS),
                               tokenizer=tok, video_processor=Qwen2VLVideoProcessor(), chat_template=smolvl.CHAT_TEMPLATE)


def scene():
    a = np.full((112, 168, 3), 255, np.uint8)
    a[40:60, 100:130] = (255, 0, 0)  # the small red detail
    return Image.fromarray(a)


def test_tool_turn_with_an_image_expands_its_placeholder(vl_processor):
    ids, prepared = ToolTurns(vl_processor).build("zoomed:", [Image.new("RGB", (120, 80), "red")])
    pad = vl_processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert len(prepared) == 1 and prepared[0].width % 28 == 0 and prepared[0].height % 28 == 0
    assert ids.count(pad) == image_tokens(vl_processor, prepared[0])
    text = vl_processor.tokenizer.decode(ids)
    assert text.startswith("<|im_end|>\n<|im_start|>tool\nzoomed:<|vision_start|><|image_pad|>")


def test_driver_records_zoom_images_outside_the_mask(vl_processor):
    tok = vl_processor.tokenizer
    call = '<tool_call>{"name": "zoom", "arguments": {"box": [100, 40, 130, 60]}}</tool_call>'
    engine = FakeEngine(tok, lambda c, s: call if "zoom of box" not in c else "It is red.")
    text = vl_processor.apply_chat_template([{"role": "user", "content": [
        {"type": "image"}, {"type": "text", "text": "What color is the small patch?"}]}],
        tokenize=False, add_generation_prompt=True)
    (r,), = generate_with_tools(engine, vl_processor, [GenRequest(text, [scene()])], SamplingConfig(max_new_tokens=400),
                                ToolConfig(enabled=["zoom"], options={"zoom": {"target_pixels": 56 * 84}}))
    assert (r.turns, r.final_text, r.calls[0].error) == (2, "It is red.", None)
    (img,) = r.images
    assert np.asarray(img)[..., 1].mean() < 60  # the crop is the red patch (red: G = 0)
    pad = tok.convert_tokens_to_ids("<|image_pad|>")
    pads = [m for t, m in zip(r.token_ids, r.policy_mask) if t == pad]
    assert len(pads) == image_tokens(vl_processor, img) and not any(pads)
    sent = engine.calls[1][1][0]
    assert sent == r.prompt_ids + r.token_ids[:r.turn_spans[1][0]]


def test_a_bad_box_on_a_vlm_is_a_text_tool_turn(vl_processor):
    tok = vl_processor.tokenizer
    call = '<tool_call>{"name": "zoom", "arguments": {"box": [100, 40, 900, 60]}}</tool_call>'
    engine = FakeEngine(tok, lambda c, s: call if "<|im_start|>tool" not in c else "Sorry.")
    text = vl_processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "?"}]}],
                                            tokenize=False, add_generation_prompt=True)
    (r,), = generate_with_tools(engine, vl_processor, [GenRequest(text, [scene()])], SamplingConfig(max_new_tokens=400),
                                ToolConfig(enabled=["zoom"]))
    assert r.calls[0].error == "bad_arguments" and r.images == [] and r.final_text == "Sorry."
    assert "outside image 0, which is 168x112 pixels" in tok.decode(r.token_ids)
