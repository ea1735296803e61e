"""The vision verifiers through `mmrl verify --batch` (worker pool, jsonl contract), with the
fields documented in docs/vision-verifiers.md."""
import json

from mmrl.cli import main

THINK = "<think>the target is top left</think>"
LINES = [  # (input line, expected score; None = could not judge)
    ({"verifier": "grounding", "response": THINK + '<answer>{"bbox_2d": [966, 546, 1932, 1092]}</answer>',
      "gold": [960, 540, 1920, 1080], "frame": "qwen25_resized", "image_size": [1920, 1080]}, 1.0),
    ({"verifier": "grounding", "response": THINK + "<answer><|box_start|>(500,500),(1000,1000)<|box_end|></answer>",
      "gold": {"bbox": [960, 540, 1920, 1080], "image_size": [1920, 1080]}, "frame": "norm1000"}, 1.0),
    ({"verifier": "grounding", "response": THINK + "<answer>[1, 2, 3, 4]</answer>", "gold": [1, 2, 3, 4]}, None),
    ({"verifier": "detection", "response": THINK + '<answer>[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}]</answer>',
      "gold": [{"bbox_2d": [0, 0, 10, 10], "label": "cat"}, {"bbox_2d": [20, 20, 30, 30], "label": "dog"}],
      "frame": "abs"}, 0.55),
    ({"verifier": "counting", "response": THINK + "<answer>I count 4</answer>", "gold": 5, "count_mode": "partial"},
     0.82),
    ({"verifier": "gui", "response": THINK + '<answer>{"action": "click", "point": [0.15, 0.55]}</answer>',
      "gold": {"action": "click", "bbox": [100, 200, 200, 240]}, "frame": "norm1", "image_size": [1000, 400]}, 1.0),
    ({"verifier": "gui", "response": THINK + "<answer>[{'action': 'click', 'coordinate': [150, 220]}]</answer>",
      "gold": {"action": "click", "bbox": [100, 200, 200, 240]}, "frame": "abs", "preset": "ui_r1"}, 3.0),
    ({"verifier": "aepo", "response": THINK + '[{"point_2d": [0, 0]}, {"point_2d": [15, 15]}, {"point_2d": [40, 5]}]',
      "gold": [10, 10, 20, 20], "frame": "abs"}, 1.4082483),
    ({"verifier": "gui", "response": THINK + '<answer>{"action": "click", "point": [1, 1]}</answer>',
      "gold": {"action": "click", "bbox": [0, 0, 5, 5]}, "frame": "abs", "colour": "red"}, 1.0),  # metadata
    ({"verifier": "gui", "response": THINK + '<answer>{"action": "click", "point": [1, 1]}</answer>',
      "gold": {"action": "click", "bbox": [0, 0, 5, 5]}, "frame": "abs", "coord_mode": "nearest"}, None),
]


def test_vision_verifiers_through_mmrl_verify_batch(tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(line) + "\n" for line, _ in LINES))
    assert main(["verify", "--batch", str(src), "--out", str(out), "--workers", "2"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(LINES)
    for row, (line, expected) in zip(rows, LINES):
        if expected is None:
            assert row["score"] is None and row["status"] in ("gold_error", "infra_error"), row
        else:
            assert abs(row["score"] - expected) < 1e-6, row
    assert "no 'frame' option" in rows[2]["reason"] and rows[2]["status"] == "gold_error"
    assert rows[-2]["colour"] == "red"  # a key no verifier declares is metadata: written back, never judged
    assert rows[-1]["status"] == "infra_error" and "'coord_mode'" in rows[-1]["reason"]
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["could_not_judge"] == 2
