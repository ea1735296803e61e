"""Says when a run stops learning anything: a step whose update had only zero advantages (the
algorithm's own `advantage/zero_adv_group_frac` is 1, or every group was filtered out) moves
nothing but a KL term. The usual causes are a model that never writes what the verifier accepts
(every verdict a format_error), answers that all miss alike, or a task it always solves; after
`patience` such steps in a row the trainer prints one line with the rewards and verdicts, rather
than spending the run on silent zero updates. Reading the computed advantages, not the rewards,
keeps algorithms whose baseline is not the group's (REINFORCE++, DCPO) out of it: their flat groups
can still carry a gradient."""
from __future__ import annotations

from collections import Counter


class SignalWatch:
    def __init__(self, patience: int = 3):
        self.patience, self.first, self.verdicts, self.rewards, self.said = patience, None, Counter(), set(), False

    def check(self, step: int, generated: list, metrics: dict) -> str | None:
        """The warning line when this step completes `patience` flat steps in a row (once per run).
        generated: the step's groups before any filter; metrics: the step's, after its update."""
        if not (metrics.get("update/skipped") or metrics.get("advantage/zero_adv_group_frac") == 1.0):
            self.first, self.verdicts, self.rewards = None, Counter(), set()
            return None
        self.first = self.first or step
        self.verdicts.update(r.status for g in generated for r in g.responses)
        self.rewards.update(r.reward for g in generated for r in g.judged)
        if self.said or step - self.first + 1 < self.patience:
            return None
        self.said = True
        verdicts = ", ".join(f"{status} {n}" for status, n in self.verdicts.most_common())
        rewards = ", ".join(f"{r:g}" for r in sorted(self.rewards)) or "none judged"
        return (f"steps {self.first}-{step} gave no learning signal: every advantage was 0 (in each group all "
                f"responses got the same reward; rewards seen: {rewards}). Verdicts: {verdicts}. "
                f"{self._advice()}; docs/training.md, 'No learning signal'.")

    def _advice(self) -> str:
        """What to try, from the verdict the flat steps mostly gave."""
        top = self.verdicts.most_common(1)[0][0] if self.verdicts else ""
        if top == "ok":
            return "Every answer is right: the task is too easy for the model (harder data, or a curriculum)"
        if top == "wrong":
            return ("The answers have the format but miss alike: use a reward that ranks near misses above far "
                    "ones (gui coord_mode: gaussian, grounding acc_mode: gaussian_iou), easier data, or a stronger model")
        return ("A model that never writes the verifier's format cannot start: write the answer's opening for it "
                "(data.response_prefix), show the format in a system prompt or prompt_template, or use a "
                "stronger model")
