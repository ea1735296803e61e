"""CLPO's rewrite pass as a stage of the step (algorithms.md §11 steps 2-8): bucket the step's
groups by accuracy, let the policy rewrite hard/medium prompts, roll out the rewrites (judged with
the ORIGINAL sample's verifier and gold), and mix informative groups, hard rewrites first. Each
response's kl_weight is set from its bucket. The stage receives a small engine interface
(`rollouts.chat`, `rollouts.groups`), never the trainer."""
from __future__ import annotations

from typing import Protocol

from .clpo import HARD, MEDIUM, CLPOConfig, bucket, extract_rewrite, informative, kl_scale, \
    rewrite_instruction, wants_rewrite


class RewriteEngine(Protocol):
    def chat(self, messages: list[str], temperature: float, max_new_tokens: int) -> list[str]: ...

    def groups(self, keys: list[int], samples: list[dict] | None = None) -> list: ...


def _weigh(group, kind: str, cfg: CLPOConfig) -> None:
    for r in group.responses:
        r.kl_weight = kl_scale(kind, cfg)


def clpo_stage(cfg: CLPOConfig, groups: list, engine: RewriteEngine, gold_key: str, prompt_key: str
               ) -> tuple[list, list, dict]:
    """groups: the step's scored groups (mmrl.train.records.Group). Returns (groups to train on,
    the rewritten groups generated, metrics)."""
    kinds = [bucket(g.accuracy, cfg) for g in groups]
    for g, kind in zip(groups, kinds):
        _weigh(g, kind, cfg)
    chosen = [k for k, kind in enumerate(kinds) if wants_rewrite(kind, cfg)]
    replies = engine.chat([rewrite_instruction(groups[k].sample[prompt_key], groups[k].sample.get(gold_key), kinds[k])
                           for k in chosen], cfg.rewrite_temperature, cfg.rewrite_max_tokens) if chosen else []
    valid = [(k, {**groups[k].sample, prompt_key: t}) for k, reply in zip(chosen, replies)
             if (t := extract_rewrite(reply, cfg)) is not None]
    rewritten = engine.groups([groups[k].key for k, _ in valid], [s for _, s in valid]) if valid else []
    kind_of = {id(s): kinds[k] for k, s in valid}   # over-long rewrites are skipped by the engine
    kept = {HARD: [], MEDIUM: []}
    for g in rewritten:
        g.rewritten = True
        if g.judged and informative(g.accuracy):
            _weigh(g, kind_of[id(g.sample)], cfg)
            kept[kind_of[id(g.sample)]].append(g)
    original = [g for g in groups if informative(g.accuracy)]
    mixed = kept[HARD] + original + kept[MEDIUM]
    metrics = {"clpo/hard": kinds.count(HARD), "clpo/medium": kinds.count(MEDIUM), "clpo/easy": kinds.count("easy"),
               "clpo/rewrites_asked": len(chosen), "clpo/rewrites_valid": len(valid),
               "clpo/rewritten_hard_kept": len(kept[HARD]), "clpo/rewritten_medium_kept": len(kept[MEDIUM]),
               "clpo/original_kept": len(original), "clpo/fallback_full_batch": int(not mixed)}
    return (mixed or list(groups)), rewritten, metrics  # a copy: the caller extends its own list
