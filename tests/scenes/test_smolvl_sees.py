"""The shipped smolvl sees: its vision tower is the trained file (mmrl/models/smolvl_vision.safetensors),
its language model is SmolLM2's untouched, and on a fixed slice of the held-out scenes its answers
follow the image (the seeing report, docs/scenes.md: colour +42 and shape +42 points against another
item's image over 24 items each; the random tower: +8 and +0)."""
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mmrl.models import load_policy
from mmrl.models.smolvl import VISION_WEIGHTS
from mmrl.scenes import seeing

pytestmark = pytest.mark.integration
SCENES = Path(__file__).resolve().parents[2] / "data" / "scenes"


def test_smolvl_carries_the_shipped_tower_and_smollm2s_language_model():
    seeing_model, _ = load_policy("smolvl", "fp32")
    random_model, _ = load_policy("smolvl-random", "fp32")
    shipped = load_file(str(VISION_WEIGHTS))
    ours, theirs = seeing_model.state_dict(), random_model.state_dict()
    assert shipped and all(torch.equal(ours[k], v.float()) for k, v in shipped.items())
    assert not any(torch.equal(theirs[k], v.float()) for k, v in shipped.items() if v.dim() > 1)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours if k not in shipped)  # the same language model


def test_answers_follow_the_image_on_a_fixed_held_out_slice():
    model, processor = load_policy("smolvl", "auto")
    result = seeing.run(model, processor, seeing.probes(SCENES, limit=12, skills=("colour", "shape")))
    for skill in ("colour", "shape"):
        r = result[skill]
        # >= 3 of 12 items more than with a swapped image; the random tower: +1 and +0
        assert r["real"] - r["swapped"] >= 25, (skill, r)
        assert r["real"] - r["blank"] >= 25, (skill, r)
