"""Preflight: every input a run points at (data, images, model folder, verifiers and their options,
algorithm parameters, golds) checked in seconds, before DeepSpeed, vLLM or any weights load.
Problems are one line each, all of them at once; the caller exits 2 on any.

    report = preflight_recipe(recipe, run_dir / "data"); report.print(); report.raise_if_failed()
    preflight_benchmark(bench, model)     # mmrl eval: prints its table, raises UserError on problems
"""
from .benchmark import preflight_benchmark
from .recipe import preflight_recipe
from .report import Check, Report

__all__ = ["preflight_recipe", "preflight_benchmark", "Report", "Check"]
