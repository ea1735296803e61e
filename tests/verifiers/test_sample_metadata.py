"""A sample's metadata columns never change a verdict (issue 12): the data layer forwards to a verifier
only the columns it declares as per-sample options. Real samples from /work/shared/data, each verified
bare and then with metadata columns (`id`, `task_id`, `source`, the dataset's own fields) added."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from mmrl.data import verifier_item
from mmrl_verifiers import VerifierPool
from mmrl_verifiers.code_datasets import humaneval

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
META = {"id": 17, "task_id": "HumanEval/0", "source": "mine/17", "unique_id": "x", "level": 3}


def config(prompt="question", gold="answer", default="math"):
    return SimpleNamespace(prompt_key=prompt, gold_key=gold, image_key="images", default_verifier=default)


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(workers=2, preload=("math", "mcq", "gui", "grounding")) as p:
        yield p


def verdicts(pool, sample: dict, data, options: dict, response: str, **extra):
    """(bare verdict, verdict with metadata) of one response, through the data layer and the pool."""
    bare = {**verifier_item(sample, data, options), "response": response, **extra}
    noisy = {**verifier_item({**sample, **META}, data, options), "response": response, **extra}
    assert not set(META) & set(noisy), noisy  # metadata is not an option
    return pool.map([bare, noisy])


def same(a, b) -> bool:
    return (a.score, a.status, a.reason, a.parts) == (b.score, b.status, b.reason, b.parts)


def test_math500_sample(pool):
    row = json.loads((DATA / "math500" / "test.jsonl").open().readline())  # has subject, level, unique_id
    data = config("problem", "answer")
    bare, noisy = verdicts(pool, row, data, {}, row["solution"], finish_reason="stop")
    assert bare.score == 1.0 and same(bare, noisy)


def test_mathvista_multi_choice_sample_keeps_its_choices(pool):
    rows = json.loads((DATA / "mathvista" / "data" / "testmini.json").read_text()).values()
    row = next(r for r in rows if r["question_type"] == "multi_choice")  # pid, metadata, unit, ...
    sample = {**row, "verifier": "mcq"}
    item = verifier_item(sample, config(), {})
    assert item["choices"] == row["choices"] and "pid" not in item and "metadata" not in item
    letter = "ABCDEFGHIJ"[row["choices"].index(row["answer"])]
    bare, noisy = verdicts(pool, sample, config(), {}, f"The answer is ({letter}).")
    assert bare.score == 1.0 and same(bare, noisy)


def test_mathvista_precision_column_reaches_math(pool):
    rows = json.loads((DATA / "mathvista" / "data" / "testmini.json").read_text()).values()
    row = next(r for r in rows if r["precision"] == 1 and r["answer_type"] == "float")
    item = verifier_item(row, config(), {})
    assert item["precision"] == 1 and "question_type" not in item


def test_humaneval_sample_with_task_id(pool):
    """Was: `task_id` / `entry_point` / `solution` columns made every code sample infra_error."""
    sample = {**next(humaneval(DATA / "humaneval" / "HumanEval.jsonl.gz")), "verifier": "code"}
    data = config("prompt", "gold", "code")
    item = verifier_item(sample, data, {"code": {"reward_mode": "fraction"}})
    assert set(item) == {"verifier", "gold", "reward_mode"}
    with VerifierPool(workers=1, preload=("code",)) as code_pool:
        v = code_pool.map([{**item, "response": sample["solution"]}])[0]
    assert (v.score, v.status) == (1.0, "ok"), v


def mind2web_step():
    tasks = json.loads((DATA / "mind2web" / "data" / "mind2web_data_test_website.json").read_text())
    step = tasks[0]["actions"][0]
    b = step["bbox"]
    return step, [b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]]


def test_mind2web_gui_sample(pool):
    """Was gold_error: `frames_from` refused every unknown key, metadata included."""
    step, box = mind2web_step()
    sample = {"question": "click", "verifier": "gui", "answer": {"action": "click", "bbox": box},
              "image_size": [1280, 1000], "action_uid": step["action_uid"]}
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    response = f'<think>the field</think><answer>{{"action": "click", "point": [{cx}, {cy}]}}</answer>'
    bare, noisy = verdicts(pool, sample, config(), {"gui": {"frame": "abs"}}, response)
    assert bare.score == 1.0 and same(bare, noisy)
    assert verifier_item(sample, config(), {})["image_size"] == [1280, 1000]  # asked for: forwarded


def test_mind2web_box_as_grounding_sample(pool):
    step, box = mind2web_step()
    sample = {"question": "where?", "verifier": "grounding", "answer": box, "image_size": [1280, 1000],
              "annotation_id": "a", "action_uid": step["action_uid"], "operation": step["operation"]}
    response = f"<think>there</think><answer>{json.dumps(box)}</answer>"
    bare, noisy = verdicts(pool, sample, config(), {"grounding": {"frame": "abs"}}, response)
    assert bare.score == pytest.approx(1.0), bare
    assert same(bare, noisy)
