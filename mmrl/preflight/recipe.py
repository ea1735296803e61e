"""The training preflight: everything a recipe points at, checked in seconds before DeepSpeed,
vLLM or any weights load. `mmrl train --dry-run` runs it in full; every real run runs it first.

Order: data files (exist, parse, prompt/gold keys, verifier fields) -> images (exist, decode) ->
verifiers (names, option values of the recipe and of every sample's columns) -> algorithm
(parameters, group size) -> tools -> golds start in the verifier pool (the first few per verifier) -> model
(config + tokenizer/processor, no weights; the pool's workers spawn meanwhile) -> golds collected.
A check whose input failed is skipped; every other check still runs, so all problems show at once.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..errors import UserError
from .golds import GoldCase, GoldCheck, first_per_verifier, gold_response
from .model import check_model
from .report import Report
from .tools import check_tools
from .verifiers import check_verifier_names

PREVIEW_SIZE = 64   # --dry-run checks this many generated samples per split (in a temporary folder)


def preflight_recipe(recipe, generate_into: Path, preview: bool = False) -> Report:
    """Run every check; the caller prints the report and raises on errors.
    `generate_into`: where `data.generate` writes its files (the run's data folder, or a temporary
    one with `preview`: then only the first PREVIEW_SIZE samples of each split are generated)."""
    report = Report(f"preflight: {recipe.name} ({recipe._source or 'recipe'})")
    splits = _data_splits(report, recipe, generate_into, preview)
    samples = {split: _load(report, recipe, split, path) for split, path in splits.items()}
    used = _sample_verifiers(report, recipe, samples, splits)
    _images(report, recipe, samples, splits)
    valid = check_verifier_names(report, recipe, used)
    _algorithm(report, recipe)
    _precision(report, recipe)
    check_tools(report, recipe.tools)
    items = _items(report, recipe, samples.get("train") or [], splits.get("train"), valid)
    golds = _golds(items, recipe.verifiers.workers)
    try:
        needs_images = any(s.get(recipe.data.image_key) for rows in samples.values() if rows for s in rows)
        check_model(report, recipe.backbone.model, needs_images)
    finally:
        golds.finish(report)
    return report


def _data_splits(report: Report, recipe, generate_into: Path, preview: bool) -> dict[str, Path]:
    d = recipe.data
    if d.generate is not None:
        from ..data.generate import generate_split_files, stale_settings

        gen = d.generate
        stale = stale_settings(gen, recipe.run_dir / "data")  # the folder the real run would reuse
        if stale:
            report.add("data", f"data.generate ({gen.kind})", [stale])
            return {}
        if preview:
            gen = gen.model_copy(update={"train_size": min(gen.train_size, PREVIEW_SIZE),
                                         "held_out_size": min(gen.held_out_size, PREVIEW_SIZE)})
        try:
            train, held = generate_split_files(gen, generate_into)
        except UserError as e:
            report.add("data", f"data.generate ({gen.kind})", [str(e)])
            return {}
        source = (f"mix {', '.join(m.name for m in gen.mix)}" if gen.mix else gen.task) if gen.kind == "reasoning_gym" else ""
        what = f"data.generate: {gen.kind} {source}".rstrip()
        sizes = f"{d.generate.train_size} train / {d.generate.held_out_size} held-out"
        note = (f"{sizes}; the run writes {recipe.run_dir / 'data'}, a preview of {gen.train_size} checked"
                if preview else f"{sizes} in {generate_into}")
        report.add("data", f"{what} ({note})")
        return {"train": train, **({"held_out": held} if held else {})}
    if d.train is None:
        report.add("data", "none", ["data: no training data: set data.train (a .jsonl/.json/.parquet file) "
                                    "or data.generate"])
        return {}
    splits = {"train": recipe.resolve_path(d.train)}
    if d.held_out is not None:
        splits["held_out"] = recipe.resolve_path(d.held_out)
    elif recipe.logging.eval_samples:  # e.g. data.train replaced a generator that wrote a held-out split
        report.warnings.append(f"no held-out data: logging.eval_samples={recipe.logging.eval_samples} evaluates "
                               "nothing (set data.held_out, or logging.eval_samples=0)")
    report.add("data", "; ".join(f"data.{k}: {p}" for k, p in splits.items()))
    return splits


def _load(report: Report, recipe, split: str, path: Path) -> list[dict] | None:
    from ..data.dataset import load_samples, missing_keys

    try:
        rows = load_samples(path)
    except UserError as e:
        report.add(split, str(path), [f"data.{split}: {e}"])
        return None
    d = recipe.data
    report.add(split, f"{len(rows)} samples; prompt {d.prompt_key!r}, gold {d.gold_key!r}",
               [f"data.{split}: {e}" for e in missing_keys(rows, path, d)])
    if split == "held_out" and not recipe.logging.eval_samples:
        report.warnings.append("data.held_out is set but logging.eval_samples is 0: it is never evaluated")
    return rows


def _sample_verifiers(report: Report, recipe, samples: dict, splits: dict) -> Counter:
    """How many samples name each verifier (a sample without one uses data.default_verifier)."""
    used: Counter = Counter()
    errors = []
    for split, rows in samples.items():
        bad = [(i, s["verifier"]) for i, s in enumerate(rows or []) if s.get("verifier") is not None
               and not isinstance(s["verifier"], str)]
        if bad:
            i, value = bad[0]
            errors.append(f"data.{split} {splits[split]}: {len(bad)} samples have a 'verifier' that is not a "
                          f"name; first: sample {i}: {value!r:.60}")
        used.update(s.get("verifier") or recipe.data.default_verifier for s in rows or []
                    if s.get("verifier") is None or isinstance(s["verifier"], str))
    if errors:
        report.add("sample verifiers", ", ".join(f"{k} {v}" for k, v in used.items()), errors)
    return used


def _images(report: Report, recipe, samples: dict, splits: dict) -> None:
    from ..data.images import check_images

    key, count, bad = recipe.data.image_key, 0, []
    for split, rows in samples.items():
        if rows:
            n, problems = check_images(rows, key, splits[split].parent, str(splits[split]))
            count += n
            bad += problems
    if not count and not bad:
        report.skip("images", f"no sample has {key!r}")
        return
    detail = f"{count} decoded" + (f", {len(bad)} samples with a bad image" if bad else "")
    if not bad:
        report.add("images", detail)
    elif recipe.data.on_bad_image == "skip":
        report.add("images", detail, warnings=[f"{len(bad)} samples will be skipped (data.on_bad_image=skip); "
                                               f"first: {bad[0]}"])
    else:
        report.add("images", detail, [f"images: {len(bad)} samples with a missing or unreadable image; first: "
                                      f"{bad[0]} (data.on_bad_image=skip skips them)"])


def _precision(report: Report, recipe) -> None:
    """bf16 asked by name where the hardware cannot run it natively: a warning, since it works, slowly."""
    from ..models import backbone
    asked = [f"{key}=bfloat16" for key, dtype in (("backbone.dtype", recipe.backbone.dtype),
                                                  ("rollout.dtype", recipe.rollout.dtype)) if dtype == "bfloat16"]
    if asked and not backbone.has_bf16():
        report.warnings.append(f"{', '.join(asked)}: this CPU has no bf16 instructions (avx512_bf16/amx_bf16), so "
                               "bf16 matmuls run on a reference kernel, 6-28x slower than float32 (bench/cpu_bf16.py on an "
                               "AVX2 CPU); dtype: auto picks float32 here")


def _algorithm(report: Report, recipe) -> None:
    from ..algorithms import build_algorithm

    a = recipe.algorithm
    try:
        algo = build_algorithm(a.name, max_new_tokens=recipe.rollout.max_new_tokens,
                               correction=a.rollout_correction, **a.params)
        algo.check_group_size(recipe.rollout.n)
    except UserError as e:
        report.add("algorithm", a.name, [f"algorithm: {e}"])
        return
    except (TypeError, ValueError) as e:
        report.add("algorithm", a.name, [f"algorithm.params: {e}"])
        return
    params = ", ".join(f"{k}={v}" for k, v in a.params.items())
    report.add("algorithm", f"{a.name}" + (f" ({params})" if params else "") + f", group size {recipe.rollout.n}")


def _items(report: Report, recipe, train: list[dict], path: Path | None, valid: set[str]) -> list[tuple[str, dict]]:
    """Each training sample's verifier item, as the trainer builds it; the option values a sample's
    own columns give (MCQ `choices`, a box's `image_size`) are checked against the verifier's
    declaration, so a bad column is named here and not an infra_error mid-run."""
    from ..data.dataset import verifier_item
    from .verifiers import option_problems

    d, options = recipe.data, recipe.verifiers.options
    items, bad = [], []
    for i, sample in enumerate(train):
        name = sample.get("verifier") or d.default_verifier
        if sample.get(d.gold_key) is None or not isinstance(name, str) or name not in valid:
            continue  # reported by the data or verifier checks
        item = verifier_item(sample, d, options)
        problems = option_problems(name, {k: v for k, v in item.items() if k not in ("verifier", "gold")},
                                   f"sample {i} of {path}")
        if problems:
            bad.append(problems[0])
        else:
            items.append((f"sample {i} of {path}", item))
    if bad:
        report.add("sample options", f"{len(bad)} of {len(train)} samples",
                   [f"data.train: {len(bad)} samples give option values their verifier refuses; first: {bad[0]}"])
    return items


def _golds(items: list[tuple[str, dict]], workers: int) -> GoldCheck:
    cases = []
    for where, item in first_per_verifier(items):
        opts = {k: v for k, v in item.items() if k not in ("verifier", "gold")}
        response, full = gold_response(item["verifier"], item["gold"], opts)
        cases.append(GoldCase(where, {**item, "response": response}, full))
    return GoldCheck(cases, workers)
