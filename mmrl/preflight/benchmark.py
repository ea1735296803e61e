"""The eval preflight: a benchmark's samples, images, model folder, verifier and golds checked
before any engine starts (`mmrl eval` calls it right after loading the benchmark)."""
from __future__ import annotations

import sys
from collections import Counter

from ..errors import UserError
from .golds import SELF_ANSWERING, GoldCase, GoldCheck, first_per_verifier
from .model import check_model
from .report import Report
from .tools import check_tools
from .verifiers import check_names


def preflight_benchmark(bench, model: str | None, limit: int | None = None, workers: int = 2,
                        quiet: bool = False) -> Report:
    """Check `bench` (a loaded Benchmark) for `model` (None: gold mode, no model); print the table
    to stderr (stdout stays the eval's JSON line) unless `quiet`; raise UserError listing every problem."""
    report = Report(f"preflight: {bench.name} ({bench.source or 'benchmark'})")
    try:
        samples = bench.samples(limit)
        report.add("samples", f"{len(samples)} from {bench.data_dir / bench.data.path}")
    except UserError as e:
        samples = []
        report.add("samples", str(bench.data_dir / bench.data.path), [str(e)])
    items, render_errors = [], []
    for s in samples:
        try:
            bench.prompt_text(s)
            items.append((f"{bench.name}: sample {s.id}", {**bench.verifier_item(s, bench.reference_text(s))}))
        except UserError as e:
            render_errors.append(str(e))
    if samples:
        report.add("prompts", f"{len(items)} of {len(samples)} prompts and references render",
                   render_errors[:1] + ([f"{bench.name}: {len(render_errors) - 1} more samples fail the same way"]
                                        if len(render_errors) > 1 else []))
    _images(report, samples)
    used = Counter(item["verifier"] for _, item in items)
    named = {name: f"{bench.name}: verifier.name" for name in used} or {bench.verifier.name: "verifier.name"}
    valid = check_names(report, named, {n: ("verifier.options", bench.verifier.options) for n in named}, used)
    # math/mcq: the benchmark's reference response should score full accuracy; for the others
    # (code tests, CAD meshes, boxes) an empty response makes the verifier parse the gold without
    # running a program, which keeps the check in seconds.
    cases = [GoldCase(f"{where} (reference)" if full else where,
                      item if full else {**item, "response": ""}, full)
             for where, item in first_per_verifier([(w, i) for w, i in items if i["verifier"] in valid])
             for full in [item["verifier"] in SELF_ANSWERING]]
    if model is not None:  # gold mode calls no tool
        check_tools(report, bench.tools)
    golds = GoldCheck(cases, workers)  # its workers start while the model folder loads
    try:
        if model is None:
            report.skip("model", "gold mode: no model")
        else:
            check_model(report, model, needs_images=any(s.images for s in samples), key="--model")
    finally:
        golds.finish(report)
    if not quiet:
        report.print(sys.stderr)
    report.raise_if_failed()
    return report


def _images(report: Report, samples) -> None:
    from PIL import Image

    paths = [(s.id, p) for s in samples for p in s.images]
    if not paths:
        report.skip("images", "no sample has images")
        return
    bad = []
    for sample_id, path in paths:
        try:
            with Image.open(path) as img:
                img.load()  # decode now: a truncated file fails here, not inside the engine
        except Exception as e:
            bad.append(f"sample {sample_id}: image {path}: {type(e).__name__}: {e}")
    report.add("images", f"{len(paths) - len(bad)} of {len(paths)} decoded",
               [f"images: {len(bad)} cannot be decoded; first: {bad[0]}"] if bad else [])
