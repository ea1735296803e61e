"""Cost of the vision verifiers: in-process vs a 2-worker VerifierPool, on the same items.

Items: Mind2Web test steps (SeeClick annotations, first --steps of them), each as a `gui`
sample stated by its own centre click, plus a `grounding`, `detection` and `aepo` item built from
the step's box. Prints items/s for each path, the ratio, and the per-item cost against the 2 s limit.

    .venv/bin/python bench/vision_verify_throughput.py [--workers 2] [--steps 500]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mmrl_verifiers import VerifierPool, run_item

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mind2web" / "data"
THINK = "<think>the element is here</think>"


def items(steps: int) -> list[dict]:
    out = []
    for split in ("website", "task"):
        for task in json.loads((DATA / f"mind2web_data_test_{split}.json").read_text()):
            for step in task["actions"]:
                b = step.get("bbox")
                if not b or b["width"] <= 0 or b["height"] <= 0:
                    continue
                box = [b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]]
                cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                click = json.dumps({"action": "click", "point": [cx, cy]})
                out += [
                    {"verifier": "gui", "response": f"{THINK}<answer>{click}</answer>",
                     "gold": {"action": "click", "bbox": box}, "frame": "abs"},
                    {"verifier": "grounding", "response": f'{THINK}<answer>{{"bbox_2d": {box}}}</answer>',
                     "gold": box, "frame": "abs"},
                    {"verifier": "detection", "response": f'{THINK}<answer>[{{"bbox_2d": {box}}}]</answer>',
                     "gold": [{"bbox_2d": box}], "frame": "abs"},
                    {"verifier": "aepo", "response": f'{THINK}[{{"point_2d": [0, 0]}}, {{"point_2d": [{cx}, {cy}]}}]',
                     "gold": box, "frame": "abs"},
                ]
    return out[:4 * steps]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    batch = items(args.steps)
    run_item(batch[2])  # import scipy before timing, as pool workers do at preload
    t0 = time.perf_counter()
    local = [run_item(item) for item in batch]
    t_local = time.perf_counter() - t0
    t0 = time.perf_counter()
    with VerifierPool(workers=args.workers, preload=("gui", "grounding", "detection", "aepo")) as pool:
        pool.map(batch[:4 * args.workers])  # start the workers (spawn + preload) outside the timing
        t_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        pooled = pool.map(batch)
        t_pool = time.perf_counter() - t0
    assert [v.score for v in local] == [v.score for v in pooled], "pool and in-process disagree"
    n = len(batch)
    print(f"{n} items ({n // 4} Mind2Web steps x gui/grounding/detection/aepo), all scores equal")
    print(f"in-process : {n / t_local:9.0f} items/s  ({1e6 * t_local / n:.0f} us/item)")
    print(f"pool x{args.workers}    : {n / t_pool:9.0f} items/s  (start-up {t_start:.1f} s, not included)")
    print(f"ratio pool/in-process: {t_local / t_pool:.2f}; per-item cost is "
          f"{t_local / n / 2.0:.1e} of the 2 s limit")


if __name__ == "__main__":
    main()
