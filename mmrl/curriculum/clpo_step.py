"""CLPO's extra generation pass inside a training step (algorithms.md §11 steps 2-8), kept out of the
loop: bucket the step's groups, let the policy rewrite hard/medium prompts, roll out the rewrites
(scored with the ORIGINAL sample's verifier and gold), and mix informative groups, hard rewrites
first, each row tagged with its KL scale. The trainer supplies the two engine calls."""
from __future__ import annotations

from typing import Callable

from .clpo import HARD, MEDIUM, CLPOConfig, bucket, extract_rewrite, informative, kl_scale, \
    rewrite_instruction, wants_rewrite


def clpo_mix(cfg: CLPOConfig, groups: list[list[int]], rows: list, accuracies: list, samples: list[dict],
             gold_key: str, prompt_key: str,
             rewrite: Callable[[list[str]], list[str]],
             rollout: Callable[[list[dict], list[int]], list[list[int]]]) -> tuple[list[list[int]], dict]:
    """groups: the step's original groups (row positions into `rows`, judged responses only).
    rewrite(instructions) -> the policy's replies; rollout(rewritten samples, original indices) ->
    their groups (appended to `rows`/`accuracies` by the caller). Returns the groups to train on."""
    acc = [sum(accuracies[i] for i in g) / len(g) for g in groups]
    kinds = [bucket(a, cfg) for a in acc]
    for g, kind in zip(groups, kinds):
        for i in g:
            rows[i].kl_scale = kl_scale(kind, cfg)
    chosen = [k for k, kind in enumerate(kinds) if wants_rewrite(kind, cfg)]
    originals = [samples[rows[groups[k][0]].prompt_key] for k in chosen]
    replies = rewrite([rewrite_instruction(s[prompt_key], s.get(gold_key), kinds[k])
                       for k, s in zip(chosen, originals)]) if chosen else []
    texts = [extract_rewrite(t, cfg) for t in replies]
    valid = [(k, s, t) for k, s, t in zip(chosen, originals, texts) if t is not None]
    new_groups = rollout([{**s, prompt_key: t} for _, s, t in valid],
                         [rows[groups[k][0]].prompt_key for k, _, _ in valid]) if valid else []
    kept = {HARD: [], MEDIUM: []}
    for (k, _, _), g in zip(valid, new_groups):
        if g and informative(sum(accuracies[i] for i in g) / len(g)):
            for i in g:
                rows[i].kl_scale = kl_scale(kinds[k], cfg)
            kept[kinds[k]].append(g)
    original = [g for g, a in zip(groups, acc) if informative(a)]
    mixed = kept[HARD] + original + kept[MEDIUM]
    metrics = {"clpo/hard": kinds.count(HARD), "clpo/medium": kinds.count(MEDIUM), "clpo/easy": kinds.count("easy"),
               "clpo/rewrites_asked": len(chosen), "clpo/rewrites_valid": len(valid),
               "clpo/rewritten_hard_kept": len(kept[HARD]), "clpo/rewritten_medium_kept": len(kept[MEDIUM]),
               "clpo/original_kept": len(original), "clpo/fallback_full_batch": int(not mixed)}
    return (mixed or groups), metrics
