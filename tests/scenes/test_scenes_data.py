"""The shipped held-out set (data/scenes) and its benchmark (eval/scenes.yaml): reproducible from its
seed, disjoint from the train split, and every gold scores 1 through the real verifiers while a
wrong answer scores 0."""
import hashlib
import io
import json
from pathlib import Path

import pytest

from mmrl.eval.benchmark import load_benchmark
from mmrl.eval.runner import evaluate, gold_responder
from mmrl.scenes import build, gui
from mmrl.scenes.items import make_item, split_of
from mmrl_verifiers import VerifierPool

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "scenes"
SEED, PER_SKILL = 1, 24   # as written in data/scenes/README.md


def shipped():
    return [json.loads(line) for line in (DATA / "items.jsonl").open()]


def png_bytes(image):
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def test_same_seed_gives_identical_bytes_and_another_seed_does_not():
    for skill in ("count", "ground", "word"):
        a, b, c = make_item("train", 7, 3, skill), make_item("train", 7, 3, skill), make_item("train", 8, 3, skill)
        assert png_bytes(a.image) == png_bytes(b.image) and a.question == b.question and a.gold == b.gold
        assert png_bytes(a.image) != png_bytes(c.image)
    (g1,), (g2,) = build.gui_items("train", 7, [0]), build.gui_items("train", 7, [0])
    assert png_bytes(g1.image) == png_bytes(g2.image) and g1.gold == g2.gold


def test_shipped_heldout_set_is_regenerated_exactly_from_its_seed():
    records = shipped()
    assert len(records) == PER_SKILL * len(build.SKILLS)
    made = build.items("heldout", SEED, PER_SKILL)
    for item, rec in zip(made, records):
        assert build.record(item, rec["image"]) == rec, rec["id"]
        if item.skill != "gui":  # chromium's pixels may vary with its version; its boxes are compared above
            assert png_bytes(item.image) == (DATA / rec["image"]).read_bytes(), rec["id"]


def test_splits_are_disjoint_by_construction_and_by_content():
    held = build.items("heldout", SEED, 6)
    train = build.items("train", SEED, 6)  # the same seed: the split rule alone keeps them apart
    assert all(split_of(i.spec) == "heldout" for i in held) and all(split_of(i.spec) == "train" for i in train)
    shipped_images = {hashlib.sha256((DATA / r["image"]).read_bytes()).hexdigest() for r in shipped()}
    train_images = {hashlib.sha256(png_bytes(i.image)).hexdigest() for i in build.items("train", 0, 12)}
    assert not shipped_images & train_images
    with pytest.raises(ValueError, match="split must be one of"):
        make_item("test", 0, 0, "count")


def test_build_cli_rejects_unknown_skills_with_exit_2(capsys, tmp_path):
    assert build.main(["--split", "train", "--seed", "0", "--skills", "colour,smell", "--out", str(tmp_path)]) == 2
    assert "unknown skill 'smell'" in capsys.readouterr().err


def test_missing_browser_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(gui.shutil, "which", lambda name: None)
    with pytest.raises(gui.BrowserError, match="apt-get install chromium"):
        gui.render([gui.make_spec(__import__("random").Random(0))])


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(workers=2, preload=("math", "mcq", "grounding", "gui")) as p:
        yield p


BENCHES = {"scenes": 168, "scenes_grounding": 24, "scenes_gui": 24}


def _run(tmp_path, pool, responder):
    """Every scenes benchmark with `responder`: {sample id: verdict}."""
    verdicts = {}
    for name, count in BENCHES.items():
        bench = load_benchmark(REPO / "eval" / f"{name}.yaml", ["sampling.n=1", "metrics=[]"])
        evaluate(bench, tmp_path / name, responder(bench), {"model": "x", "engine": "none"}, batch_size=64, pool=pool)
        records = [json.loads(line) for line in (tmp_path / name / "samples.jsonl").open()]
        assert len(records) == count, name
        verdicts.update({r["id"]: r["verdicts"][0] for r in records})
    return verdicts


def test_gold_mode_scores_every_item_and_a_wrong_answer_scores_zero(tmp_path, pool):
    verdicts = _run(tmp_path / "gold", pool, gold_responder)
    assert len(verdicts) == PER_SKILL * len(build.SKILLS)
    assert {k: v for k, v in verdicts.items() if v["parts"].get("accuracy") != 1.0} == {}

    def wrong(bench):  # a plausible but wrong answer of the right format, per verifier
        answers = {"mcq": "\\boxed{E}", "math": "\\boxed{17}", "grounding": '<answer>{"bbox_2d": [0, 0, 3, 3]}</answer>',
                   "gui": '<answer>{"action": "click", "point": [335, 251]}</answer>'}
        verifier = bench.verifier.name if bench.name != "scenes" else None
        return lambda samples: [[{"text": answers[verifier or s.fields["verifier"]], "finish_reason": "stop", "tokens": None}]
                                for s in samples]
    verdicts = _run(tmp_path / "wrong", pool, wrong)
    assert all(v["score"] is not None and v["parts"]["accuracy"] == 0.0 for v in verdicts.values())


def test_gui_golds_also_serve_aepo_multi_point_answers():
    from mmrl_verifiers.pool import verify
    rec = next(r for r in shipped() if r["skill"] == "gui")
    x1, y1, x2, y2 = rec["gold"]["bbox"]
    miss, hit = [x2 + 5, y2 + 5], [(x1 + x2) // 2, (y1 + y2) // 2]
    answer = f'<think>look</think>[{{"point_2d": {miss}}}, {{"point_2d": {hit}}}]'
    v = verify("aepo", answer, rec["gold"], frame="qwen25_resized")
    assert v.score == pytest.approx(1 + 1 / (2 * 2) ** 0.5) and v.info["first_hit"] == 2
