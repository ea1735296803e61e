"""Unit tests of the rollout contract: sampling validation, engine choice, the multimodal guards,
the rollout-vs-trainer gap metric."""
import math

import pytest
import torch

from mmrl.errors import UserError
from mmrl.rollout import SamplingConfig, build_engine, logprob_gap
from mmrl.rollout.guards import banned_tokens, check_images, check_prompt_length


@pytest.mark.parametrize("bad", [dict(n=0), dict(temperature=-0.1), dict(top_p=0.0), dict(top_p=1.5),
                                 dict(max_new_tokens=0)])
def test_sampling_config_rejects_bad_values_naming_them(bad):
    with pytest.raises(UserError, match=f"bad {next(iter(bad))}="):
        SamplingConfig(**bad)


def test_build_engine_lists_the_valid_kinds():
    with pytest.raises(UserError, match="use one of vllm, hf"):
        build_engine("sglang", "smollm2-135m-instruct")


def test_image_placeholder_mismatch_is_refused_naming_the_sample():
    prompt = "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is it?<|im_end|>\n"
    check_images(0, prompt, 1)
    with pytest.raises(UserError, match=r"sample 3 .*What is it\?.*1 image placeholder\(s\).* but 2 image"):
        check_images(3, prompt, 2)


def test_prompt_over_the_limit_after_image_expansion_is_refused_not_truncated():
    check_prompt_length(0, "p", 512, 512)
    check_prompt_length(0, "p", 10_000, None)
    with pytest.raises(UserError, match="sample 7 .*513 tokens after image expansion, over max_prompt_len=512"):
        check_prompt_length(7, "p", 513, 512)


def test_banned_tokens_are_the_vision_tokens_in_the_vocabulary():
    class Tok:
        def get_vocab(self):
            return {"a": 0, "<|image_pad|>": 5, "<|vision_end|>": 7}

    assert banned_tokens(Tok()) == {"<|image_pad|>": 5, "<|vision_end|>": 7}


def test_logprob_gap_oracle():
    rollout = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -9.0, 0.0]])
    trainer = torch.tensor([[-1.1, -1.8, -7.0], [-0.5, -9.0, 5.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    diffs = [-0.1, 0.2, 0.0]  # trainer - rollout on the masked tokens
    gap = logprob_gap(rollout, trainer, mask)
    assert gap["logprob_gap_mean"] == pytest.approx(0.1)
    assert gap["logprob_gap_max"] == pytest.approx(0.2)
    assert gap["rollout_kl_k3"] == pytest.approx(sum(math.exp(d) - 1 - d for d in diffs) / 3, rel=1e-4)  # float32 inputs
    assert logprob_gap(rollout, trainer, torch.zeros_like(mask))["logprob_gap_max"] == 0.0
