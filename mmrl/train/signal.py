"""Says when a run stops learning anything: a step whose every group scored all its judged responses
alike has only zero group-relative advantages, so the update moves nothing (or only a KL term).
The usual cause is a model that never writes what the verifier accepts (every verdict a
format_error) or a task it always solves; after `patience` such steps in a row the trainer prints
one line with the verdicts, rather than spending the run on silent zero updates."""
from __future__ import annotations

from collections import Counter


class SignalWatch:
    def __init__(self, patience: int = 3):
        self.patience, self.first, self.verdicts, self.rewards, self.said = patience, None, Counter(), set(), False

    def check(self, step: int, groups: list) -> str | None:
        """The warning line when this step completes `patience` flat steps in a row (once per run)."""
        judged = [[r.reward for r in g.judged] for g in groups]
        if any(len(set(rewards)) > 1 for rewards in judged) or not any(judged):
            self.first, self.verdicts, self.rewards = None, Counter(), set()
            return None
        self.first = self.first or step
        self.verdicts.update(r.status for g in groups for r in g.responses)
        self.rewards.update(r for rewards in judged for r in rewards)
        if self.said or step - self.first + 1 < self.patience:
            return None
        self.said = True
        verdicts = ", ".join(f"{status} {n}" for status, n in self.verdicts.most_common())
        rewards = ", ".join(f"{r:g}" for r in sorted(self.rewards))
        return (f"steps {self.first}-{step} gave no learning signal: in every group all responses got the same "
                f"reward ({rewards}), so every advantage is 0. Verdicts: {verdicts}. A model that never writes "
                "the verifier's format cannot start (try a system prompt or prompt_template that shows the "
                "format, or a stronger model); docs/training.md, 'No learning signal'.")
