"""Rewards: every response scored by its sample's verifier in the shared pool (hard per-item
timeouts, so no response can block a step), with per-verifier metrics. A verdict with score None
(could not judge) masks the response out of the update; it is counted, never scored 0."""
from __future__ import annotations

from collections import defaultdict

from ..data import verifier_item


def score_responses(pool, samples: list[dict], completions: list, data_cfg, verifiers_cfg):
    """completions: anything with .text and .finish_reason. -> ([(reward, reward_parts, accuracy,
    status)] per completion, metrics). reward_parts are the reward's weighted components (the
    verifier's score under the verifier's name, the format bonus under "format"); all None-ish when
    the verifier could not judge. A response is judged with data.response_prefix before it: the
    answer is what the prompt wrote for the model and what it wrote on."""
    items, texts = [], [data_cfg.response_prefix + c.text for c in completions]
    for sample, completion, text in zip(samples, completions, texts):
        item = verifier_item(sample, data_cfg, verifiers_cfg.options)
        items.append({**item, "response": text, "finish_reason": completion.finish_reason})
    verdicts = pool.map(items, verifiers_cfg.timeout)
    if verifiers_cfg.format_weight:
        fmt = pool.map([{"verifier": "format", "response": text, **verifiers_cfg.options.get("format", {})}
                        for text in texts], verifiers_cfg.timeout)
    out = []
    per_verifier: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, int] = defaultdict(int)
    for i, (item, verdict) in enumerate(zip(items, verdicts)):
        statuses[verdict.status] += 1
        if verdict.score is None:
            out.append((None, {}, None, verdict.status))
            continue
        parts = {"verifier": float(verdict.score)}
        if verifiers_cfg.format_weight and fmt[i].score is not None:
            parts["format"] = verifiers_cfg.format_weight * fmt[i].score
        reward = sum(parts.values())
        out.append((reward, parts, float(verdict.parts.get("accuracy", verdict.score > 0)), verdict.status))
        per_verifier[item["verifier"]].append(reward)
    metrics = {f"reward/{name}": sum(v) / len(v) for name, v in per_verifier.items()}
    metrics.update({f"verdict/{status}": n for status, n in statuses.items()})
    metrics["reward/unjudged"] = sum(o[0] is None for o in out)
    return out, metrics
