"""Alignment plumbing: the loss covers exactly the caption, the saved file holds exactly the vision
tower + merger and loads back, and the script is deterministic and leaves the language model alone."""
import importlib.util
import random
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from mmrl.models.backbone import load_policy, load_processor
from mmrl.scenes import align, build
from mmrl.scenes.items import make_item

REPO = Path(__file__).resolve().parents[2]


def test_labels_are_the_caption_and_its_end_token_only():
    processor = load_processor("smolvl")
    rng = random.Random(0)
    items = [make_item("train", 0, 0, "count"), make_item("train", 0, 1, "word")]
    batch = [(it, *align.example(it, rng)) for it in items]
    inputs = align.collate(processor, batch)
    assert inputs["input_ids"].shape == inputs["labels"].shape == inputs["attention_mask"].shape
    assert inputs["image_grid_thw"].tolist() == [[1, 16, 16], [1, 16, 16]]  # 224 px / 14, unresized
    for row, item in enumerate(items):
        learned = inputs["labels"][row][inputs["labels"][row] != -100]
        assert processor.tokenizer.decode(learned) == item.caption + "<|im_end|>"
        assert "?" not in item.caption and "boxed" not in item.caption  # a description, not an RL question


@pytest.fixture(scope="module")
def smolvl():
    return load_policy("smolvl", dtype="fp32")[0]


@pytest.mark.integration  # loads smolvl's real weights (as tests/test_models_smol.py does)
def test_vision_weights_round_trip_and_touch_nothing_else(smolvl, tmp_path):
    path = tmp_path / "v.safetensors"
    original = {k: v.clone() for k, v in smolvl.state_dict().items()}
    align.save_vision(smolvl, path, {"seed": "0"})
    with safe_open(str(path), "pt") as f:
        keys = set(f.keys())
        assert f.metadata() == {"seed": "0"}
    assert keys == {k for k in original if k.startswith("model.visual.")} and any("merger" in k for k in keys)
    assert path.stat().st_size < 12e6
    with torch.no_grad():
        for p in smolvl.model.visual.parameters():
            p.add_(1.0)
    assert align.load_vision(smolvl, path) == {"seed": "0"}
    for k, v in smolvl.state_dict().items():
        want = original[k].to(torch.bfloat16).float() if k in keys else original[k]
        assert torch.equal(v, want), k
    from safetensors.torch import save_file
    save_file({"lm_head.weight": torch.zeros(2)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError, match="bad.safetensors: not smolvl vision weights"):
        align.load_vision(smolvl, tmp_path / "bad.safetensors")


def _script():
    spec = importlib.util.spec_from_file_location("pretrain_smolvl", REPO / "scripts" / "pretrain_smolvl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_rejects_bad_arguments_with_exit_2(tmp_path, capsys, monkeypatch):
    script = _script()
    with pytest.raises(SystemExit) as e:
        script.main(["--out", str(tmp_path / "v.bin")])
    assert e.value.code == 2 and "must end in .safetensors" in capsys.readouterr().err
    assert script.main(["--out", str(tmp_path / "v.safetensors"), "--skills", "smell"]) == 2
    from mmrl.scenes import gui
    monkeypatch.setattr(gui.shutil, "which", lambda name: None)  # no browser: one line, before the model loads
    assert script.main(["--out", str(tmp_path / "v.safetensors"), "--skills", "gui"]) == 2
    assert "apt-get install chromium" in capsys.readouterr().err


@pytest.mark.integration
def test_two_one_step_runs_give_identical_weights_and_a_loss_curve(tmp_path):
    script = _script()
    args = ["--max-steps", "1", "--batch-size", "1", "--skills", "colour", "--seed", "3"]
    assert script.main(["--out", str(tmp_path / "a.safetensors"), *args]) == 0
    assert script.main(["--out", str(tmp_path / "b.safetensors"), *args]) == 0
    # Same tensors and metadata (not the same bytes: safetensors writes metadata keys in hash order).
    with safe_open(str(tmp_path / "a.safetensors"), "pt") as a, safe_open(str(tmp_path / "b.safetensors"), "pt") as b:
        assert a.metadata() == b.metadata() and a.metadata()["seed"] == "3"
        assert set(a.keys()) == set(b.keys()) and all(torch.equal(a.get_tensor(k), b.get_tensor(k)) for k in a.keys())
    losses = [(tmp_path / f"{x}.loss.jsonl").read_text().split('"s"')[0] for x in "ab"]
    assert losses[0] == losses[1]  # step, loss, grad norm and lr agree to the last digit
    assert (tmp_path / "a.loss.png").stat().st_size > 1000 and len((tmp_path / "a.loss.jsonl").read_text().splitlines()) == 1
    assert build.SKILLS[-1] == "gui"  # the default mix includes the browser screens
    # --init continues from a saved stage: at a vanishing learning rate the weights come back unchanged.
    c = tmp_path / "c.safetensors"
    assert script.main(["--out", str(c), *args, "--lr", "1e-12", "--init", str(tmp_path / "a.safetensors")]) == 0
    with safe_open(str(tmp_path / "a.safetensors"), "pt") as a, safe_open(str(c), "pt") as b:
        assert b.metadata()["init_steps"] == "1" and b.metadata()["init"].endswith("a.safetensors")
        assert all(torch.equal(a.get_tensor(k), b.get_tensor(k)) for k in a.keys())


def test_a_scene_without_shapes_is_captioned_as_empty():
    """Count items with n=0 and no distractors draw no shape at all; their caption must still be a
    sentence ("On a cream background: no shapes."), not "On a cream background: . In all: ."."""
    from mmrl.scenes.items import make_item

    empty = [item for item in (make_item("train", 0, i, "count") for i in range(200)) if not item.spec["shapes"]]
    assert empty, "no empty scene among 200 count items: pick another range"
    for item in empty:
        assert item.caption == f"On a {item.spec['bg']} background: no shapes."


def test_fact_captions_state_the_drawn_counts_and_only_unambiguous_colours():
    """--captions facts: each kind's count as drawn, a colour only where one shape has that kind, a
    kind only where one shape has that colour; a description (no question), and text scenes keep
    their plain caption."""
    import re
    from collections import Counter

    from mmrl.scenes.items import facts
    from mmrl.scenes.seeing import SINGULARS

    for skill in ("count", "colour", "shape", "size"):
        for i in range(40):
            item = make_item("train", 0, i, skill)
            shapes = item.spec["shapes"]
            text = align.example(item, random.Random(0), "facts")[1]
            assert text == facts(item.spec) and "?" not in text and "boxed" not in text
            stated = {SINGULARS.get(k, k): 0 if n == "no" else int(n)
                      for n, k in re.findall(r"There (?:is|are) (\d+|no) (\w+) in the image", text)}
            drawn = Counter(s[0] for s in shapes)
            if skill == "count":  # the asked kind is stated even when none is drawn
                drawn[item.spec["kind"]] += 0
                assert stated[item.spec["kind"]] == int(item.answer)
            assert stated == dict(drawn) or (not shapes and "no shapes" in text)
            for kind, colour in re.findall(r"The (\w+) is (\w+)\.", text):
                assert [s[1] for s in shapes if s[0] == kind] == [colour]
            for colour, kind in re.findall(r"The (\w+) object is a (\w+)\.", text):
                assert [s[0] for s in shapes if s[1] == colour] == [kind]
    word = make_item("train", 0, 0, "word")
    assert align.example(word, random.Random(0), "facts")[1] == word.caption


def test_single_scenes_hold_one_shape_of_the_train_split_and_are_not_benchmark_skills():
    """--skills single (a first curriculum stage): one shape alone, its facts name its kind and colour;
    train split only, and not part of the held-out benchmark's skills."""
    from mmrl.scenes.items import facts, split_of

    assert "single" not in build.SKILLS
    for i in range(30):
        item = make_item("train", 0, i, "single")
        (kind, colour, *_), = item.spec["shapes"]
        assert split_of(item.spec) == "train" and item.skill == "single"
        assert facts(item.spec) == f"There is 1 {kind} in the image. The {kind} is {colour}. The {colour} object is a {kind}."


def test_init_rejects_a_missing_file_and_foreign_weights_with_exit_2(tmp_path, capsys):
    script = _script()
    with pytest.raises(SystemExit) as e:
        script.main(["--out", str(tmp_path / "v.safetensors"), "--init", str(tmp_path / "none.safetensors")])
    assert e.value.code == 2 and "none.safetensors: no such file" in capsys.readouterr().err
    from safetensors.torch import save_file
    save_file({"lm_head.weight": torch.zeros(2)}, str(tmp_path / "bad.safetensors"))
    assert script.main(["--out", str(tmp_path / "v.safetensors"), "--skills", "single", "--max-steps", "1",
                        "--init", str(tmp_path / "bad.safetensors")]) == 2
    assert "bad.safetensors: not smolvl vision weights" in capsys.readouterr().err
