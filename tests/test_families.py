"""The family seam: each VLM family's adapter, found from config.model_type (or the processor's
class), owns placeholder, vision tokens, grid resize, token counts and tensor names; a text model
has none; a VLM no adapter serves, a tensor no adapter declares, a processor grid that disagrees with
the vision tower are each refused with one line."""
import os
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from mmrl.errors import UserError
from mmrl.models import encode_prompt, load_processor, sequence_batch
from mmrl.models.backbone import image_tokens, prepare_images
from mmrl.models.families import FAMILIES, family_of, family_of_config
from mmrl.models.tiny_qwen3vl import MAX_PIXELS, MIN_PIXELS
from mmrl.rollout.guards import banned_tokens, check_images

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_family_from_model_type_none_for_text_and_unknown_vlm_refused():
    assert family_of_config(SimpleNamespace(model_type="qwen2_5_vl", vision_config={})).name == "qwen2.5-vl"
    assert family_of_config(SimpleNamespace(model_type="qwen2_vl", vision_config={})).name == "qwen2.5-vl"
    assert family_of_config(SimpleNamespace(model_type="qwen3_vl", vision_config={})).name == "qwen3-vl"
    assert family_of_config(SimpleNamespace(model_type="llama")) is None
    with pytest.raises(UserError, match="'llava' has no family adapter .*known: qwen2_5_vl, qwen2_vl, qwen3_vl"):
        family_of_config(SimpleNamespace(model_type="llava", vision_config={}))


def test_family_from_processor_class_none_for_a_tokenizer():
    class LlavaProcessor:
        image_processor = object()

    assert family_of(SimpleNamespace(get_vocab=dict)) is None  # a text model's tokenizer
    with pytest.raises(UserError, match="processor LlavaProcessor has no family adapter"):
        family_of(LlavaProcessor())


def test_every_family_declares_disjoint_token_and_image_tensors():
    for family in FAMILIES:
        assert family.image_placeholder in family.vision_tokens
        assert not set(family.per_token) & set(family.per_image)


def test_sequence_batch_refuses_a_tensor_no_family_declares():
    p = {"input_ids": torch.tensor([[1, 2]]), "mm_token_type_ids": torch.tensor([[0, 0]]),
         "pixel_values_videos": torch.ones(4, 3)}
    with pytest.raises(ValueError, match=r"\['pixel_values_videos'\] are declared by no family adapter"):
        sequence_batch([p], [[3]], pad_id=0)


@pytest.fixture(scope="module")
def qwen3():
    return load_processor("tiny-qwen3vl")


def test_qwen3vl_images_land_on_its_32_pixel_grid_and_expand_to_the_counted_tokens(qwen3):
    family = family_of(qwen3)
    assert family.name == "qwen3-vl" and family.factor(qwen3) == 32
    text = qwen3.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "?"}]}],
                                     tokenize=False, add_generation_prompt=True)
    pad = qwen3.tokenizer.convert_tokens_to_ids(family.image_placeholder)
    for size in [(20, 10), (250, 251), (3000, 2000)]:  # below min_pixels, in range, above max_pixels
        img = Image.new("RGB", size, (255, 0, 0))
        (prepared,) = prepare_images(qwen3, [img])
        assert prepared.width % 32 == 0 and prepared.height % 32 == 0  # a 28-pixel grid would fail here
        assert MIN_PIXELS <= prepared.width * prepared.height <= MAX_PIXELS
        enc = encode_prompt(qwen3, text, [img])
        n_pads = int((enc["input_ids"] == pad).sum())
        assert n_pads == image_tokens(qwen3, prepared) == int(enc["image_grid_thw"].prod()) // 4
        assert int(enc["mm_token_type_ids"].sum()) == n_pads
        assert set(enc) == {"input_ids", "attention_mask", *family.per_token, *family.per_image}


def test_guards_use_the_family_placeholder_and_vision_tokens(qwen3):
    family = family_of(qwen3)
    assert set(banned_tokens(qwen3.tokenizer, family)) == set(family.vision_tokens)
    prompt = f"<|im_start|>user\n<|vision_start|>{family.image_placeholder}<|vision_end|>?<|im_end|>\n"
    check_images(0, prompt, 1, family)
    with pytest.raises(UserError, match=r"sample 2 .*1 image placeholder\(s\) <\|image_pad\|> but 0 image"):
        check_images(2, prompt, 0, family)


def test_a_processor_whose_grid_disagrees_with_the_vision_tower_is_refused(qwen3):
    from transformers import AutoConfig

    from mmrl.models import resolve_model

    config = AutoConfig.from_pretrained(resolve_model("tiny-qwen3vl"))
    family = family_of(qwen3)
    family.check(config, qwen3)
    qwen3.image_processor.patch_size = 14  # a Qwen2.5-VL preprocessor_config.json in a Qwen3-VL folder
    try:
        with pytest.raises(UserError, match="qwen3-vl folder: the processor's patch_size is 14 but the vision tower's is 16"):
            family.check(config, qwen3)
    finally:
        qwen3.image_processor.patch_size = 16


def test_hf_batch_keeps_the_family_token_types_when_the_first_prompt_has_none():
    from mmrl.models.families import QWEN2_VL
    from mmrl.rollout.hf import _collate

    ids_only = {"input_ids": torch.tensor([[5, 6]]), "attention_mask": torch.tensor([[1, 1]])}  # given as token ids
    image = {"input_ids": torch.tensor([[1, 9, 9, 2]]), "attention_mask": torch.ones(1, 4, dtype=torch.long),
             "mm_token_type_ids": torch.tensor([[0, 1, 1, 0]]), "pixel_values": torch.ones(8, 3),
             "image_grid_thw": torch.tensor([[1, 2, 4]])}
    batch = _collate([ids_only, image], pad_id=0, family=QWEN2_VL)
    assert batch["input_ids"].tolist() == [[0, 0, 5, 6], [1, 9, 9, 2]]
    assert batch["mm_token_type_ids"].tolist() == [[0, 0, 0, 0], [0, 1, 1, 0]]
    assert batch["pixel_values"].shape == (8, 3) and batch["image_grid_thw"].tolist() == [[1, 2, 4]]
