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
from mmrl.recipe import Data, Generator, validate_recipe
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
    with pytest.raises(UserError, match=r"bad\.jsonl: line 2 is not valid JSON"):
        load_samples(tmp_path / "bad.jsonl")
    with pytest.raises(UserError, match="unsupported type '.csv'"):
        load_samples(tmp_path / "x.csv")
    with pytest.raises(UserError, match="no such file"):
        load_samples(tmp_path / "missing.jsonl")
    rows = [{"question": "q", "answer": "1"}, {"question": "q2"}, {"answer": "3"}, {"question": "q4"}]
    with pytest.raises(UserError) as e:
        check_keys(rows, tmp_path / "d.jsonl", Data())
    assert str(e.value).splitlines() == [  # both keys, with counts and the first bad sample
        f"data file {tmp_path / 'd.jsonl'}: 1 of 4 samples have no 'question'; first: sample 2 (keys: answer)",
        f"data file {tmp_path / 'd.jsonl'}: 2 of 4 samples have no 'answer'; first: sample 1 (keys: question)"]


def test_non_utf8_binary_and_non_object_files_are_one_line(tmp_path):
    real = (SHARED / "gsm8k" / "test.jsonl").read_text().splitlines()[:3]
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(("\n".join(real) + "\n").encode() + '{"question": "Combien coûte", "answer": "2"}\n'.encode("latin-1"))
    with pytest.raises(UserError, match=r"latin\.jsonl: not UTF-8 text \(line 4, byte \d+"):
        load_samples(latin)
    png = tmp_path / "image.jsonl"
    png.write_bytes((GEO / "11" / "img_diagram.png").read_bytes())
    with pytest.raises(UserError, match=r"image\.jsonl: not UTF-8 text"):
        load_samples(png)
    (tmp_path / "list.jsonl").write_text('{"question": "q", "answer": "1"}\n[1, 2]\n')
    with pytest.raises(UserError, match=r"list\.jsonl: sample 1 is a list, expected an object"):
        load_samples(tmp_path / "list.jsonl")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(UserError, match=r"bad\.parquet: not a readable parquet file"):
        load_samples(tmp_path / "bad.parquet")


def test_a_json_array_file_loads_like_jsonl(tmp_path):
    rows = [json.loads(line) for line in (SHARED / "gsm8k" / "test.jsonl").read_text().splitlines()[:5]]
    (tmp_path / "a.json").write_text(json.dumps(rows, indent=1))
    assert load_samples(tmp_path / "a.json") == rows == load_samples(write(tmp_path / "a.jsonl", rows))


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


def test_an_image_field_that_is_not_paths_is_named(tmp_path):
    with pytest.raises(BadImage, match=r"sample #2: 'images' must be a path or a list of paths, got \{'path'"):
        load_images({"images": {"path": "x.png"}}, "images", tmp_path, "#2")
    with pytest.raises(UserError, match=r"sample #3: 'images' must be a path or a list of paths"):
        images_or_skip({"images": [3]}, Data(), tmp_path, "#3")


def test_check_images_decodes_every_image_and_names_each_bad_sample(tmp_path):
    from mmrl.data.images import check_images
    rows = [{"images": [str(GEO / str(i) / "img_diagram.png")]} for i in range(11, 16)]
    rows[1] = {"images": "gone.png"}
    rows[3] = {"images": [str(GEO / "14" / "img_diagram.png"), str(GEO / "14" / "data.json")]}
    count, bad = check_images(rows, "images", tmp_path, "t.jsonl")
    assert count == 3 and len(bad) == 2
    assert bad[0].startswith("sample 1 of t.jsonl: image") and "gone.png: no such file" in bad[0]
    assert bad[1].startswith("sample 3 of t.jsonl: image") and "data.json: cannot be decoded" in bad[1]


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


def test_scenes_generator_writes_each_skill_with_its_verifier_and_disjoint_splits(tmp_path):
    from mmrl.scenes.items import make_item

    gen = Generator(kind="scenes", config={"skills": ["count", "ground"]}, train_size=5, held_out_size=4, seed=3)
    train, held = generate_split_files(gen, tmp_path)
    train_rows, held_rows = load_samples(train), load_samples(held)
    assert [r["skill"] for r in train_rows] == ["count", "ground", "count", "ground", "count"]  # interleaved
    assert {r["source"] for r in train_rows}.isdisjoint(r["source"] for r in held_rows)
    for row in train_rows + held_rows:
        split, skill, index = row["source"].removeprefix("scenes/").split("-")
        item = make_item(split, 3 if split == "train" else 3 + 10**6, int(index), skill)
        assert (row["question"], row["answer"], row["verifier"]) == (item.question, item.gold, item.verifier)
        (img,) = load_images(row, "images", tmp_path, row["source"])
        assert img.tobytes() == item.image.tobytes()
        # the reference answer scores 1 through the sample's own verifier routing
        data = Data(default_verifier="math")
        options = {"grounding": {"frame": "qwen25_resized", "think_mode": "auto"}}
        assert verify(response=item.reference, **verifier_item(row, data, options)).score == 1.0
    for config, why in [({"skills": ["smell"]}, "smell"), ({"skills": "count"}, "'count'"), ({"n": 1}, "unknown key")]:
        with pytest.raises(UserError, match=why):
            generate_split_files(Generator(kind="scenes", config=config, train_size=1), tmp_path / "bad")


def test_scenes_gui_candidates_ask_for_several_points_judged_by_aepo(tmp_path):
    """gui_answer: candidates is AEPO's multi-answer form of the same gui items (same screens, same
    gold box): the reference (the box's centre) scores 2, a point list missing the box scores 1 - 1/N."""
    gen = Generator(kind="scenes", config={"skills": ["gui"], "gui_answer": "candidates"}, train_size=2,
                    held_out_size=1, seed=3)
    train, held = generate_split_files(gen, tmp_path)
    single, _ = generate_split_files(Generator(kind="scenes", config={"skills": ["gui"]}, train_size=2,
                                               held_out_size=1, seed=3), tmp_path / "single")
    options = {"aepo": {"frame": "qwen25_resized", "no_think": True}}
    for row, click in zip(load_samples(train), load_samples(single)):
        assert row["verifier"] == "aepo" and row["answer"] == click["answer"] and row["images"] == click["images"]
        assert '"point_2d"' in row["question"] and row["question"] != click["question"]
        x1, y1, x2, y2 = row["answer"]["bbox"]
        item = verifier_item(row, Data(default_verifier="math"), options)
        hit = f'<answer>[{{"point_2d": [{(x1 + x2) // 2}, {(y1 + y2) // 2}]}}]</answer>'
        assert verify(response=hit, **item).score == 2.0
        miss = f'<answer>[{{"point_2d": [{x2 + 1}, {y2 + 1}]}}, {{"point_2d": [{x1 - 1}, {y2 + 3}]}}]</answer>'
        assert verify(response=miss, **item).score == 0.5
    with pytest.raises(UserError, match="gui_answer"):
        generate_split_files(Generator(kind="scenes", config={"skills": ["gui"], "gui_answer": "many"},
                                       train_size=1), tmp_path / "bad")


def test_scenes_coords_fractions_ask_for_fractions_judged_in_frame_norm1(tmp_path):
    """coords: fractions asks gui and ground items for fractions of the image's sides (same screens,
    scenes and gold boxes as in pixels): the fractions of the box's centre / the box itself are
    correct read in frame norm1, and the same numbers read as pixels are not."""
    config = {"skills": ["gui", "ground", "count"]}
    gen = Generator(kind="scenes", config={**config, "coords": "fractions"}, train_size=3, held_out_size=0, seed=3)
    pixels = load_samples(generate_split_files(gen.model_copy(update={"config": config}), tmp_path / "px")[0])
    rows = load_samples(generate_split_files(gen, tmp_path)[0])
    for row, px in zip(rows, pixels):
        assert (row["answer"], row["images"], row["verifier"]) == (px["answer"], px["images"], px["verifier"])
        if row["skill"] == "count":
            assert row["question"] == px["question"]
            continue
        assert "in fractions of the" in row["question"] and "in pixels" in px["question"]
        assert row["question"].replace("fractions", "") != px["question"].replace("pixels", "")
        (w, h), (x1, y1, x2, y2) = row["answer"]["image_size"], row["answer"]["bbox"]
        fx1, fy1, fx2, fy2 = x1 / w, y1 / h, x2 / w, y2 / h
        answer = ('{"bbox_2d": [%s, %s, %s, %s]}' % (fx1, fy1, fx2, fy2) if row["skill"] == "ground"
                  else '{"action": "click", "point": [%s, %s]}' % ((fx1 + fx2) / 2, (fy1 + fy2) / 2))
        name = row["verifier"]
        for frame, status in [("norm1", "ok"), ("qwen25_resized", "wrong")]:
            options = {name: {"frame": frame, "think_mode": "auto"}}
            verdict = verify(response=f"<answer>{answer}</answer>", **verifier_item(row, Data(), options))
            assert verdict.status == status, (row["source"], frame, verdict.reason)
    with pytest.raises(UserError, match="coords: 'percent'"):
        generate_split_files(Generator(kind="scenes", config={**config, "coords": "percent"}, train_size=1),
                             tmp_path / "bad")


def test_a_recipe_judging_scene_coords_in_another_frame_is_refused():
    """Fractions read as pixels (or pixels as fractions) would score every answer 0, silently."""
    def recipe(coords, frame, verifier="gui"):
        return validate_recipe({"data": {"generate": {"kind": "scenes", "config": {"skills": ["gui"], "coords": coords}}},
                                "verifiers": {"options": {verifier: {"frame": frame}}}})
    for coords, frame, verifier in [("fractions", "qwen25_resized", "gui"), ("pixels", "norm1", "grounding"),
                                    ("fractions", "norm1000", "aepo")]:
        with pytest.raises(UserError, match=f"coords is '{coords}'.*verifiers.options.{verifier}.frame"):
            recipe(coords, frame, verifier)
    for coords, frame in [("fractions", "norm1"), ("fractions", "norm_0_1"), ("pixels", "qwen25_resized"),
                          ("pixels", "abs")]:
        recipe(coords, frame)  # accepted


def test_generated_files_are_reused_only_for_the_same_generator_settings(tmp_path):
    gen = Generator(task="chain_sum", train_size=8, held_out_size=4)
    train, _ = generate_split_files(gen, tmp_path)
    first = train.read_text()
    assert generate_split_files(gen, tmp_path)[0].read_text() == first  # a resumed run: same files
    for changed, why in [(gen.model_copy(update={"task": "products"}), "task: 'chain_sum' -> 'products'"),
                         (gen.model_copy(update={"train_size": 16}), "train_size: 8 -> 16")]:
        with pytest.raises(UserError) as e:  # the recipe changed: the old files would silently win
            generate_split_files(changed, tmp_path)
        assert why in str(e.value) and str(tmp_path) in str(e.value)
    assert train.read_text() == first  # nothing overwritten
