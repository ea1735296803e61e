"""Tool-use metrics of a step's rollouts, and the rollout-vs-trainer log-prob gap per policy turn."""
from __future__ import annotations

from collections import Counter


def tool_metrics(rollouts: list, rewards: list[float | None] | None = None) -> dict[str, float]:
    """rollouts: ToolRollout; rewards: one per rollout (None = not judged, left out of the split)."""
    n = max(len(rollouts), 1)
    calls = sum(len(r.calls) for r in rollouts)
    out = {"tool_calls_per_response": calls / n,
           "tool_use_rate": sum(bool(r.calls) for r in rollouts) / n,
           "tool_errors_per_response": sum(r.tool_errors for r in rollouts) / n,
           "tool_error_rate": sum(r.tool_errors for r in rollouts) / max(calls, 1),
           "tool_time_s_per_response": sum(r.tool_time_s for r in rollouts) / n,
           "turns_per_response": sum(r.turns for r in rollouts) / n}
    kinds = Counter(c.error for r in rollouts for c in r.calls if c.error)
    out.update({f"tool_error_{kind}": count / n for kind, count in kinds.items()})
    if rewards is not None:
        for used, key in ((True, "reward_with_tool"), (False, "reward_without_tool")):
            vals = [x for r, x in zip(rollouts, rewards) if bool(r.calls) == used and x is not None]
            if vals:
                out[key] = sum(vals) / len(vals)
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
