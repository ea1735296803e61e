"""Training data: loading jsonl/parquet, per-sample verifier routing, chat prompts, the bad-image
policy on real images, the step sampler and the procedural generators."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from mmrl.data import (BadImage, StepSampler, chat_prompt, check_keys, images_or_skip, load_images, load_samples,
                       verifier_item)
from mmrl.data.generate import count_shapes_samples, generate_split_files
from mmrl.errors import UserError
from mmrl.recipe import Data, Generator
from mmrl_verifiers import verify

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
GEO = SHARED / "geometry3k" / "data_examples"


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_jsonl_and_parquet_load_the_same_rows(tmp_path):
    import datasets
    rows = [{"question": "1+1", "answer": "2", "verifier": "math"}, {"question": "A?", "answer": "B", "verifier": "mcq"}]
    jsonl = write(tmp_path / "d.jsonl", rows)
    parquet = tmp_path / "d.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(parquet))
    assert load_samples(jsonl) == rows == load_samples(parquet)


def test_bad_data_files_name_the_file(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"question": "1+1", "answer": "2"}\n{"question": \n')
    with pytest.raises(UserError, match=r"bad\.jsonl: cannot be read"):
        load_samples(tmp_path / "bad.jsonl")
    with pytest.raises(UserError, match="unsupported type '.csv'"):
        load_samples(tmp_path / "x.csv")
    with pytest.raises(UserError, match="no such file"):
        load_samples(tmp_path / "missing.jsonl")
    rows = [{"question": "q", "answer": "1"}, {"question": "q2"}]
    with pytest.raises(UserError, match=r"sample 1 has no 'answer'"):
        check_keys(rows, tmp_path / "d.jsonl", Data())


def test_samples_route_to_their_own_verifier_with_their_metadata():
    data = Data(default_verifier="math")
    options = {"math": {"answer_format": "free"}, "mcq": {"preset": "default"}}
    math = verifier_item({"question": "q", "answer": "4"}, data, options)
    mcq = verifier_item({"question": "q", "answer": "B", "verifier": "mcq", "choices": ["1", "2"]}, data, options)
    assert math == {"verifier": "math", "gold": "4", "answer_format": "free"}
    assert mcq == {"verifier": "mcq", "gold": "B", "preset": "default", "choices": ["1", "2"]}
    assert verify(response="so the answer is 4", **math).score > 0.8
    assert verify(response="(B)", **mcq).score > 0.8


def test_chat_prompt_uses_the_model_template():
    from mmrl.models import default_model_dir
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(default_model_dir())
    data = Data(prompt_template="{prompt}\nAnswer with a number.", system_prompt="Be brief.")
    text = chat_prompt(tok, {"question": "2+3?"}, data)
    assert text.endswith("<|im_start|>assistant\n")
    assert "<|im_start|>system\nBe brief.<|im_end|>" in text and "2+3?\nAnswer with a number." in text


def test_real_images_load_and_bad_ones_are_named(tmp_path):
    sample = {"images": ["img_diagram.png"]}
    (img,) = load_images(sample, "images", GEO / "11", "#0")
    assert img.mode == "RGB" and min(img.size) > 10
    with pytest.raises(BadImage, match=r"sample #3: image .*nope\.png: no such file"):
        load_images({"images": "nope.png"}, "images", tmp_path, "#3")
    raw = (GEO / "12" / "img_diagram.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(BadImage, match=r"sample #4: image .*cut\.png: cannot be decoded"):
        load_images({"images": ["cut.png"]}, "images", tmp_path, "#4")


def test_bad_image_policy_fail_or_skip(tmp_path):
    bad = {"question": "q", "answer": "1", "images": ["missing.png"]}
    with pytest.raises(UserError, match=r"sample #7: .*missing\.png: no such file.*on_bad_image=skip"):
        images_or_skip(bad, Data(on_bad_image="fail"), tmp_path, "#7")
    assert images_or_skip(bad, Data(on_bad_image="skip"), tmp_path, "#7") is None
    good = {"question": "q", "answer": "1", "images": ["img_diagram.png"]}
    assert len(images_or_skip(good, Data(on_bad_image="skip"), GEO / "13", "#8")) == 1
    assert images_or_skip({"question": "q"}, Data(), tmp_path, "#9") == []


def test_sampler_is_disjoint_across_ranks_and_covers_each_epoch():
    size, per_rank, world = 10, 2, 2
    ranks = [StepSampler(size, per_rank, r, world, seed=3) for r in range(world)]
    first_epoch = [i for step in range(0, 3) for s in ranks for i in s.indices(step)][:size]
    assert sorted(first_epoch) == list(range(size))
    for step in range(6):
        a, b = (s.indices(step) for s in ranks)
        assert not set(a) & set(b)
    # a fresh sampler (as after a resume) yields the same indices for the same step
    assert StepSampler(size, per_rank, 1, world, seed=3).indices(5) == ranks[1].indices(5)


def test_reasoning_gym_generator_writes_verifiable_splits(tmp_path):
    gen = Generator(task="chain_sum", config={"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
                    train_size=20, held_out_size=10)
    train, held = generate_split_files(gen, tmp_path)
    rows, held_rows = load_samples(train), load_samples(held)
    assert len(rows) == 20 and len(held_rows) == 10
    for row in rows[:5]:
        assert verify("math", f"The answer is {row['answer']}", row["answer"], answer_format="free").score > 0.8
        assert verify("math", f"The answer is {int(row['answer']) + 1}", row["answer"], answer_format="free").score < 0.5
    assert [r["question"] for r in held_rows] != [r["question"] for r in rows[:10]]
    mtime = train.stat().st_mtime_ns
    generate_split_files(gen, tmp_path)  # existing files are reused, not rewritten
    assert train.stat().st_mtime_ns == mtime
    with pytest.raises(UserError, match="reasoning-gym task 'no_such_task'"):
        generate_split_files(Generator(task="no_such_task"), tmp_path / "x")


def test_count_shapes_generator_images_load(tmp_path):
    rows = count_shapes_samples(tmp_path, "train", 6, seed=1, config={"max_count": 3})
    for row in rows:
        assert 1 <= int(row["answer"]) <= 3
        (img,) = load_images(row, "images", tmp_path, row["source"])
        assert img.size == (112, 112)
    with pytest.raises(UserError, match="unknown key"):
        count_shapes_samples(tmp_path, "train", 1, seed=1, config={"colour": "red"})
