"""The verifier contract: what each verifier accepts, declared once and checked in one place.

An item is {"verifier", "response", "gold", **options}. Every option a verifier takes is declared
here (name, type, allowed values, default, one line of doc); the pool checks each item against the
declaration before the verifier runs, so an unknown option or a bad value is an `infra_error`
naming the option, never a silent default or a crash deep inside a verifier.

Sample metadata (an `id`, a `source`, a dataset's own columns) is not an option. An option marked
`sample=True` is one a verifier asks to read from the sample's own columns (MCQ `choices`, a
grounding sample's `image_size`); every other column stays metadata and never reaches a verifier
(`split_fields`). `finish_reason` and `allow_truncated` are common to all verifiers: the pool
applies the truncation rule (verifiers.md §0.2).

This module imports nothing heavy: the trainer and the CLI read it without sympy or the sandbox.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

_KINDS = {
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    "list": lambda v: isinstance(v, (list, tuple)),
    "dict": lambda v: isinstance(v, dict),
}


@dataclass(frozen=True)
class Option:
    """One declared option. `type` is a kind of _KINDS or several joined by "|" ("float|dict");
    None is accepted when the default is None. `choices`, when given, is the closed set of values."""

    name: str
    type: str
    default: Any = None
    choices: tuple = ()
    doc: str = ""
    sample: bool = False  # may be read from a sample column (metadata the verifier asks for)
    nullable: bool = False  # null is a meaningful value although the default is not null

    def problem(self, verifier: str, value: Any) -> str | None:
        """None when `value` is valid for this option, else one line naming the option."""
        if value is None:
            return None if self.default is None or self.nullable else \
                f"{verifier}: option {self.name!r} must not be null"
        if not any(_KINDS[k](value) for k in self.type.split("|")):
            return f"{verifier}: option {self.name!r} must be {self.type}, got {_short(value)}"
        if self.choices and value not in self.choices:
            return (f"{verifier}: option {self.name!r} must be one of "
                    f"{', '.join(map(str, self.choices))}, got {_short(value)}")
        return None

    def describe(self) -> str:
        allowed = " | ".join(map(str, self.choices)) if self.choices else self.type
        per_sample = "; may come from a sample column" if self.sample else ""
        return f"{self.name} ({allowed}, default {self.default!r}{per_sample}): {self.doc}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- options shared by every verifier, applied by the pool ---------------------------------------
COMMON = (
    Option("finish_reason", "str", None, ("stop", "length"), "how the generation ended (the trainer passes it)"),
    Option("allow_truncated", "bool", False, doc="judge a truncated generation (finish_reason=length) anyway"),
)

# --- declarations of the built-in verifiers ------------------------------------------------------
THINK_MODES = ("required", "prefilled", "none", "auto")
SCORE_PRESETS = ("default", "r1v", "gui_r1", "sum", "verl_dapo", "infigui_g1", "accuracy")  # format.PRESETS
SANDBOX_MODES = ("bwrap", "unsafe-rlimits-only")  # sandbox.MODES


def _think(default: str) -> Option:
    return Option("think_mode", "str", default, THINK_MODES, "the think-tag rule (verifiers.md §1.2)")


def _tag(default: str | None) -> Option:
    return Option("answer_tag", "str", default, doc="grade the body of <tag>…</tag> (null: the whole answer)",
                  nullable=True)


FRAME = (
    Option("frame", "str", None, ("abs", "qwen25_resized", "norm1", "norm1000", "original", "abs_original",
                                   "pixels", "abs_model", "resized", "norm_0_1", "norm_0_1000"),
           "the frame the model answers in (required; docs/vision-verifiers.md)", sample=True),
    Option("image_size", "list", None, doc="the original image's [width, height]", sample=True),
    # min/max_pixels, factor: an integral float from a JSON tool (1003520.0) is fine (frames.py checks)
    Option("model_size", "list", None, doc="the model input's [width, height] (overrides smart_resize)", sample=True),
    Option("min_pixels", "int|float", None, doc="smart_resize min_pixels", sample=True),
    Option("max_pixels", "int|float", None, doc="smart_resize max_pixels", sample=True),
    Option("factor", "int|float", None, doc="smart_resize factor (28)", sample=True),
    Option("gold_frame", "str", None, doc="the gold's frame (default: the gold's own, else abs)", sample=True),
)
_VISION = (_think("required"), _tag("answer"),
           Option("format_weight", "float", 0.1, doc="weight of the format part"))

DECLARED: dict[str, tuple[Option, ...]] = {
    "format": (_think("required"), _tag("answer"),
               Option("min_think_chars", "int", 1, doc="shortest think block, non-space chars")),
    "math": (
        _think("auto"),
        Option("answer_format", "str", "boxed", ("boxed", "answer_tag", "free"), "where the answer is read"),
        Option("answer_tag", "str", "answer", doc="the tag read when answer_format=answer_tag"),
        Option("multi_box_policy", "str", "mv", ("mv", "strict_single"), "several different boxes: mv or wrong"),
        Option("precision", "int", None, doc="decimal places that must agree (MathVista)", sample=True),
        Option("abs_tol", "float", None, doc="absolute tolerance for numbers", sample=True),
        Option("preset", "str", "default", SCORE_PRESETS, "reward preset (verifiers.md §1.3)"),
        Option("min_think_chars", "int", 1, doc="shortest think block, non-space chars"),
    ),
    "mcq": (
        Option("choices", "list", None, doc="the option texts, in letter order", sample=True),
        Option("letters", "str", None, doc="the option letters (default ABCDE… cut to len(choices))", sample=True),
        _think("auto"), _tag(None),
        Option("preset", "str", "default", SCORE_PRESETS, "reward preset (verifiers.md §1.3)"),
    ),
    "code": (
        Option("reward_mode", "str", "binary", ("binary", "fraction"), "1 iff all tests pass, or passed/total"),
        Option("require_fence", "bool", False, doc="the program must be in a ```python block"),
        Option("max_tests", "int", 32, doc="tests run per item (public ones first; null = all)", nullable=True),
        Option("memory_mb", "int", 2048, doc="the program's memory limit"),
        Option("sandbox_mode", "str", "bwrap", SANDBOX_MODES, "isolation (docs/code-sandbox.md)"),
        Option("forbid_patterns", "bool", False, doc="score 0 when suspicious patterns appear"),
    ),
    "grounding": (Option("acc_mode", "str", "iou", ("iou", "iou_sq", "thresh", "giou", "gaussian_iou"),  # grounding.ACC_MODES
                         "accuracy from the IoU (giou: (GIoU + 1) / 2; gaussian_iou: (Gaussian at the box's centre + IoU) / 2)"),
                  Option("alpha", "float", 0.25, doc="gaussian_iou: the Gaussian's σ = alpha·the gold box's size"),
                  *_VISION, *FRAME),
    "detection": (Option("iou_threshold", "float", 0.5, doc="a match needs at least this IoU"),
                  Option("max_pred", "int", None, doc="more boxes score 0 (default max(3·#gold, 20))"),
                  Option("synonyms", "dict", None, doc="label -> canonical label"),
                  *_VISION, *FRAME),
    "counting": (Option("count_mode", "str", "exact", ("exact", "partial"), "exact count or partial credit"),
                 Option("radius_px", "float", None, doc="a point hits a gold point within this distance"),
                 *_VISION, *FRAME),
    "gui": (Option("preset", "str", "default", ("default", "gaussian", "ui_r1", "gui_r1", "infigui_aer"),
                   "the anchor's rules (docs/vision-verifiers.md)"),
            Option("coord_mode", "str", None, ("hit", "gaussian"), "overrides the preset"),
            Option("text_mode", "str", None, ("f1", "thresh", "exact"), "overrides the preset"),
            Option("radius_px", "float", None, doc="overrides the preset"),
            Option("alpha", "float", None, doc="overrides the preset (Gaussian σ = alpha·size)"),
            _think("required"), _tag("answer"), *FRAME),
    "aepo": (Option("no_think", "bool", False, doc="no think block is expected"),
             Option("max_points", "int", 32, doc="longest point list read"), *FRAME),
    "cad": (
        Option("preset", "str", "default", ("default", "cadrille", "cad_coder"), "docs/cad-verifier.md"),
        Option("compare_mode", "str", None, ("normalized", "absolute"), "overrides the gold's"),
        _think("required"),
        Option("format_weight", "float", None, doc="overrides the preset"),
        Option("iou_weight", "float", None, doc="overrides the preset"),
        Option("n_points", "int", 8192, doc="Chamfer sample points"),
        Option("cd_min", "float", 2e-4, doc="Chamfer distance scoring 1"),
        Option("cd_max", "float", 0.1, doc="Chamfer distance scoring 0"),
        Option("wall_s", "float", 30.0, doc="the program's wall-clock limit"),
        Option("memory_mb", "int", 4096, doc="the program's memory limit"),
        Option("sandbox_mode", "str", "bwrap", SANDBOX_MODES, "isolation (docs/code-sandbox.md)"),
    ),
}


def problems(verifier: str, declared: tuple[Option, ...] | None, options: dict[str, Any]) -> list[str]:
    """One message per bad option of `options` (unknown name, wrong type, value not allowed).
    `declared` None means the verifier declares nothing: every option is passed on unchecked."""
    if declared is None:
        return []
    by_name = {o.name: o for o in (*declared, *COMMON)}
    out = []
    for key, value in options.items():
        option = by_name.get(key)
        if option is None:
            out.append(f"{verifier}: unknown option {key!r}; known: {', '.join(sorted(by_name))}")
            continue
        problem = option.problem(verifier, value)
        if problem:
            out.append(problem)
    return out


def split_fields(declared: tuple[Option, ...] | None, fields: dict[str, Any],
                 sample_only: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """(options, metadata) of a sample's or batch line's extra fields. With `sample_only`, only
    options the verifier marks `sample=True` are taken from the fields (a dataset column named
    like a recipe-level option stays metadata); otherwise any declared option is."""
    if declared is None:
        return dict(fields), {}
    wanted = {o.name for o in (*declared, *COMMON) if o.sample or not sample_only}
    options = {k: v for k, v in fields.items() if k in wanted}
    return options, {k: v for k, v in fields.items() if k not in wanted}
