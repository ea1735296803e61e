"""samples.jsonl in the run folder: what the policy actually wrote. Each step, the answers of its first
`logging.samples` prompts; each evaluation, every held-out greedy answer. One line per answer, with
its reward and verdict, so a flat reward curve can be read ("every answer is the same point", "no
box found") instead of guessed. Only rank 0 writes; a resumed run drops the lines after its
checkpoint's step, as metrics.jsonl does."""
from __future__ import annotations

import json
from pathlib import Path

from .records import Group


class SampleLog:
    def __init__(self, run_dir: Path, start_step: int, gold_key: str, enabled: bool = True):
        self.path, self.gold_key, self.enabled = run_dir / "samples.jsonl", gold_key, enabled
        if not enabled:
            return
        kept = []
        if self.path.exists():
            rows = (json.loads(line) for line in self.path.read_text().splitlines() if line.strip())
            kept = [r for r in rows if r["step"] <= start_step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write(self, step: int, split: str, groups: list[Group]) -> None:
        if not self.enabled or not groups:
            return
        with self.path.open("a") as f:
            for g in groups:
                for r in g.responses:
                    f.write(json.dumps({"step": step, "split": split, "source": g.sample.get("source", g.key),
                                        "gold": g.sample.get(self.gold_key), "text": r.text, "reward": r.reward,
                                        "status": r.status, "reward_parts": r.reward_parts}, default=str) + "\n")
