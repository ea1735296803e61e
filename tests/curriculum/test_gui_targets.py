"""The generated GUI-grounding data of the AEPO recipe: the gold box really is the named button,
and the aepo verifier scores answers on it with the spec's oracle (1 + 1/sqrt(N*k), 1 - 1/N)."""
import json

import pytest
from PIL import Image

from mmrl.data.generate import GUI_COLOURS, gui_targets_samples
from mmrl.errors import UserError
from mmrl_verifiers.pool import verify

OPTIONS = dict(frame="qwen25_resized", min_pixels=3136, max_pixels=50176, no_think=True)


def test_gold_box_is_the_named_button(tmp_path):
    for s in gui_targets_samples(tmp_path, "train", 20, 7, {"buttons": 4}):
        x1, y1, x2, y2 = json.loads(s["answer"])
        img = Image.open(tmp_path / s["images"][0]).convert("RGB")
        assert img.size == tuple(s["image_size"]) == (112, 112)
        colour = next(c for c in GUI_COLOURS if f"the {c} button" in s["question"])
        from PIL import ImageColor
        assert img.getpixel(((x1 + x2) // 2, (y1 + y2) // 2)) == ImageColor.getrgb(colour)
        assert 0 <= x1 < x2 < 112 and 0 <= y1 < y2 < 112


def test_aepo_scores_multi_answers_on_the_generated_gold(tmp_path):
    s = gui_targets_samples(tmp_path, "train", 1, 1, {})[0]
    x1, y1, x2, y2 = json.loads(s["answer"])
    hit, miss = [(x1 + x2) / 2, (y1 + y2) / 2], [x2 + 5, y2 + 5]
    opts = {**OPTIONS, "image_size": s["image_size"]}
    def score(points):
        return verify("aepo", json.dumps([{"point_2d": p} for p in points]), s["answer"], **opts).score
    assert score([hit]) == pytest.approx(2.0)
    assert score([miss, hit]) == pytest.approx(1 + 1 / 2)          # k=2 of N=2
    assert score([miss]) == pytest.approx(0.0)                      # 1 - 1/1
    assert verify("aepo", "the blue one", s["answer"], **opts).score == -1.0


def test_unknown_generator_option_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="unknown key.*'widgets'.*allowed: buttons, image_size"):
        gui_targets_samples(tmp_path, "train", 1, 1, {"widgets": 2})


def test_aepo_accepts_the_trainers_finish_reason(tmp_path):
    s = gui_targets_samples(tmp_path, "train", 1, 1, {})[0]
    v = verify("aepo", '[{"point_2d": [1, 1]}]', s["answer"], finish_reason="stop",
               image_size=s["image_size"], **OPTIONS)
    assert v.score == 0.0 and v.status == "wrong"
