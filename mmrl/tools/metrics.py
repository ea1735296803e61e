"""Tool-use metrics of a step's rollouts, and the rollout-vs-trainer log-prob gap per policy turn."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ToolUse:
    """One response's tool use, from a training step or an evaluation alike."""
    calls: int
    errors: int
    seconds: float
    turns: int
    reward: float | None = None  # None: not judged (left out of the reward split)


def tool_metrics(uses: list[ToolUse]) -> dict[str, float]:
    """Per response: calls, use rate, errors (and per call), tool seconds, turns; the mean reward of
    the responses that used a tool and of those that did not."""
    n, calls = max(len(uses), 1), sum(u.calls for u in uses)
    out = {"calls_per_response": calls / n, "use_rate": sum(u.calls > 0 for u in uses) / n,
           "errors_per_response": sum(u.errors for u in uses) / n,
           "error_rate": sum(u.errors for u in uses) / max(calls, 1),
           "seconds_per_response": sum(u.seconds for u in uses) / n, "turns_per_response": sum(u.turns for u in uses) / n}
    for used, key in ((True, "reward_with_tool"), (False, "reward_without_tool")):
        rewards = [u.reward for u in uses if (u.calls > 0) == used and u.reward is not None]
        if rewards:
            out[key] = sum(rewards) / len(rewards)
    return out


def per_turn_gap(rollout, trainer_logprobs: list[float]) -> list[dict[str, float]]:
    """trainer_logprobs: the trainer's log-probs of rollout.token_ids (same length). Per policy turn:
    mean and max |trainer - rollout| over that turn's tokens (tool tokens never count)."""
    if len(trainer_logprobs) != len(rollout.token_ids):
        raise ValueError(f"{len(trainer_logprobs)} trainer log-probs for {len(rollout.token_ids)} tokens")
    out = []
    for start, end in rollout.turn_spans:
        diffs = [abs(t - r) for t, r in zip(trainer_logprobs[start:end], rollout.logprobs[start:end])]
        out.append({"gap_mean": sum(diffs) / len(diffs) if diffs else 0.0, "gap_max": max(diffs, default=0.0),
                    "tokens": float(end - start)})
    return out
