"""Mind2Web gold actions (SeeClick format, no screenshots) in the unified GUI schema: each step
scores 1.0 against itself and below 1.0 against the next step, unless the two steps really are the
same action (same operation, the next click lands in this step's box, same text)."""
import json
from pathlib import Path

import pytest

from mmrl_verifiers import run_item

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mind2web" / "data"
SPLITS = ("website", "task")
OPS = {"CLICK": "click", "TYPE": "type", "SELECT": "select"}


def load(split: str) -> list[list[dict]]:
    tasks = json.loads((DATA / f"mind2web_data_test_{split}.json").read_text())
    return [task["actions"] for task in tasks]


def unified(step: dict) -> tuple[dict, dict | None]:
    """(gold action, the prediction that states it) in the unified schema; the prediction is
    None when the step has no usable box."""
    op, value = step["operation"]["op"], step["operation"]["value"]
    b = step.get("bbox")
    box = [b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]] if b else None
    gold = {"action": OPS[op], "bbox": box, **({"text": value} if op != "CLICK" else {})}
    if not b or b["width"] <= 0 or b["height"] <= 0:
        return gold, None
    pred = {"action": OPS[op], "point": [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]}
    if op != "CLICK":
        pred["text"] = value
    return gold, pred


def same_action(pred: dict, gold: dict) -> bool:
    """Independent of the verifier: would `pred` perform `gold`?"""
    if pred["action"] != gold["action"]:
        return False
    if gold["action"] == "click":
        (x, y), (x1, y1, x2, y2) = pred["point"], gold["bbox"]
        return x1 <= x <= x2 and y1 <= y <= y2
    return pred["text"].lower().split() == gold["text"].lower().split()


def wrap(pred: dict) -> str:
    return f"<think>next step</think><answer>{json.dumps(pred)}</answer>"


@pytest.mark.parametrize("split", SPLITS)
def test_gold_scores_one_against_itself_and_less_against_the_next_step(split):
    items, kinds = [], []
    n_steps = n_broken = n_same_next = 0
    for steps in load(split):
        converted = [unified(s) for s in steps]
        for i, (gold, pred) in enumerate(converted):
            n_steps += 1
            if pred is None:
                n_broken += 1
                items.append({"verifier": "gui", "response": wrap({"action": "click", "point": [1, 1]}),
                              "gold": gold, "frame": "abs"})
                kinds.append("broken")
                continue
            items.append({"verifier": "gui", "response": wrap(pred), "gold": gold, "frame": "abs"})
            kinds.append("self")
            if i + 1 < len(converted) and converted[i + 1][1] is not None:
                nxt = converted[i + 1][1]
                same = same_action(nxt, gold)
                n_same_next += same
                items.append({"verifier": "gui", "response": wrap(nxt), "gold": gold, "frame": "abs"})
                kinds.append("same_next" if same else "next")
    verdicts = [run_item(item) for item in items]  # in-process: the pool is exercised in test_gui_batch.py
    counts = {}
    for kind, v, item in zip(kinds, verdicts, items):
        counts[kind] = counts.get(kind, 0) + 1
        where = f"{split}: {item['gold']} vs {item['response']}"
        if kind == "broken":  # a step without a usable box: not judged, never scored
            assert v.score is None and v.status == "gold_error", where
        elif kind in ("self", "same_next"):
            assert v.score == pytest.approx(1.0), where
        else:
            assert v.score < 1.0, where
    print(f"\nmind2web {split}: {n_steps} steps, {counts}")
    assert n_steps == counts["self"] + counts["broken"] and counts["next"] > 0.8 * n_steps
    assert n_broken == counts["broken"] and n_same_next == counts.get("same_next", 0)
