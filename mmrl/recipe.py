"""The training recipe: a typed schema (pydantic), loaded from YAML plus dotted overrides.

    recipe = load_recipe("recipes/quickstart.yaml", ["algorithm.name=dapo", "rollout.n=8"])

Every mistake (unknown key, bad value, bad override) becomes a `UserError` whose lines each name
the key's full path and what is allowed there, e.g.
    recipes/x.yaml: rollout.engine: got 'vlm'; allowed: 'vllm', 'hf'
"""
from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .curriculum.clpo import CLPOConfig
from .curriculum.dynamic_sampling import DynamicSampling
from .errors import UserError, validation_lines
from .tools.config import ToolConfig


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Backbone(Section):
    model: str = "smollm2-135m-instruct"  # a built-in name ("smollm2-135m-instruct", "smolvl") or a local HF folder
    dtype: Literal["float32", "bfloat16", "auto"] = "auto"  # auto: bf16 where the hardware has it
    gradient_checkpointing: bool = True
    min_pixels: int = Field(28 * 28 * 4, gt=0)     # image resize bounds for VLMs (pixels)
    max_pixels: int = Field(28 * 28 * 256, gt=0)


class MixPart(Section):
    name: str                       # the samples' data source (DUMP's arm): "<name>/<index>"
    task: str
    config: dict[str, Any] = {}


class Generator(Section):
    kind: Literal["reasoning_gym", "count_shapes", "gui_targets", "scenes"] = "reasoning_gym"
    task: str = "basic_arithmetic"  # reasoning-gym task name
    config: dict[str, Any] = {}     # keyword arguments of the task's generator
    mix: list[MixPart] = []         # reasoning-gym: several named sources in equal shares (replaces task/config)
    train_size: int = Field(2000, gt=0)
    held_out_size: int = Field(200, ge=0)
    seed: int = 1234

    @model_validator(mode="after")
    def _one_source(self) -> "Generator":
        # Only reasoning_gym reads task/mix, and mix replaces task: a second source would be ignored.
        if self.mix and "task" in self.model_fields_set:
            raise ValueError("data.generate.mix and data.generate.task are both set: mix replaces task; keep one")
        if self.mix and self.config:
            raise ValueError("data.generate.mix and data.generate.config are both set: each mix part has its own "
                             "config; move it there")
        if self.kind != "reasoning_gym" and ("task" in self.model_fields_set or self.mix):
            which = "mix" if self.mix else "task"
            raise ValueError(f"data.generate.{which} is set but kind {self.kind!r} does not read it "
                             "(only kind reasoning_gym does); remove it")
        return self


class Data(Section):
    train: str | None = None        # jsonl or parquet file (relative paths: to the recipe's folder)
    held_out: str | None = None
    generate: Generator | None = None  # write train/held_out from a generator into the run folder
    prompt_key: str = "question"
    gold_key: str = "answer"
    image_key: str = "images"       # a path or a list of paths (relative to the data file's folder)
    prompt_template: str = "{prompt}"  # {prompt} = the sample's prompt text
    system_prompt: str | None = None
    # Text the assistant's turn starts with, written for the model: R1-Zero's "<think>", or an answer's
    # opening for a model that does not yet write the format. Appended to every prompt and put before
    # each response when it is judged; never trained on (it is prompt, not policy).
    response_prefix: str = ""
    default_verifier: str = "math"  # used when a sample names none
    on_bad_image: Literal["fail", "skip"] = "fail"
    max_prompt_tokens: int = Field(1024, gt=0)  # longer prompts are skipped and counted, never truncated
    shuffle: bool = True

    @field_validator("prompt_template")
    @classmethod
    def _template_uses_the_prompt(cls, value: str) -> str:
        # A template without {prompt} would give every sample the same text; any other {field}
        # would fail on the first sample, mid-run.
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError as e:
            raise ValueError(f"not a valid template ({e}); write literal braces as {{{{ }}}}") from None
        if fields != {"prompt"}:
            other = sorted(fields - {"prompt"})
            raise ValueError(f"must contain {{prompt}} and no other field (got {value!r}"
                             + (f"; unknown: {', '.join('{' + f + '}' for f in other)}" if other else "")
                             + "); write literal braces as {{ }}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "Data":
        # generate writes its own train and held-out files: a file set beside it would be ignored.
        for key in ("train", "held_out"):
            if self.generate is not None and getattr(self, key) is not None:
                raise ValueError(f"data.{key} and data.generate are both set: generate would replace your "
                                 f"file; keep one (data.generate=null keeps data.{key})")
        return self


class Verifiers(Section):
    workers: int = Field(2, ge=1)
    timeout: float | None = Field(None, gt=0)    # per item; None = each verifier's own limit
    options: dict[str, dict[str, Any]] = {}      # per verifier name: options added to every item
    format_weight: float = 0.0                   # + weight * format verifier score (0 = off)


class Algorithm(Section):
    name: str = "grpo"
    params: dict[str, Any] = {}     # checked by mmrl.algorithms.build_algorithm
    # {mode: none | token_tis | seq_tis | token_mis | seq_mis | seq_geo_rs, clip_min, clip_max, geo_band}:
    # a mmrl.algorithms.RolloutCorrection once set (None = off); docs/algorithms.md "Rollout correction"
    rollout_correction: Any = None

    @field_validator("rollout_correction")
    @classmethod
    def _rollout_correction(cls, value: Any) -> Any:
        from .algorithms.correction import parse_correction   # here, so a recipe without it never loads torch
        return parse_correction(value, "algorithm.rollout_correction")


class Rollout(Section):
    engine: Literal["vllm", "hf"] = "vllm"
    prompts_per_step: int = Field(8, ge=1)   # per rank
    n: int = Field(8, ge=1)                  # samples per prompt (the group size G)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(128, ge=1)
    # vLLM's KV cache (allocated up front), GiB; auto: what one step needs to hold all its sequences at
    # once (prompts_per_step x n samples of the longest training prompt, or data.max_prompt_tokens with
    # images or tools, + max_new_tokens), not a fixed size
    kv_cache_gb: Union[Annotated[float, Field(gt=0)], Literal["auto"]] = "auto"
    dtype: Literal["float32", "bfloat16", "auto"] = "auto"


class Training(Section):
    steps: int = Field(20, ge=1)
    lr: float = Field(1e-6, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(0, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    # auto, one rank: stage 0 in float32 (no flat parameter copy, no gradient buckets: the same steps,
    # 1.0 GiB less on bench/versus_trl.py in fp32); stage 1 in bf16 = DeepSpeed's BF16 optimizer (fp32
    # accumulation, each bf16 gradient freed once added: 0.15 GiB under ZeRO-2 there). Several ranks: ZeRO-2.
    # The run's first lines name the stage chosen.
    zero_stage: Literal[0, 1, 2, 3, "auto"] = "auto"
    ranks: int = Field(1, ge=1)               # >1: launched under the deepspeed launcher
    micro_batch_tokens: int = Field(4096, ge=1)  # token budget of one forward/backward
    mini_batches: int = Field(1, ge=1)        # optimizer steps per training step
    ppo_epochs: int = Field(1, ge=1)
    seed: int = 0
    # torch/OpenMP threads per rank. auto: the cores this process may use, split over the ranks (colocated
    # rollout and update never run at once, so each phase gets them all; bench/versus_trl.py measures it)
    threads: Union[Annotated[int, Field(ge=1)], Literal["auto"]] = "auto"
    deterministic: bool = False               # deterministic kernels and sampling (for exact resume)
    reuse_logprobs: bool = True               # one epoch, one mini-batch: pi_old = the training forward's own
                                              # log-probs (ratio 1, same gradient), no separate no-grad pass
    share_prompt: bool = True                 # a group's prompt (images too) runs once in the trainer's
                                              # forward (Prefix Grouper; same log-probs and gradients)
    skip_zero_advantage: bool = True          # leave out of the update the responses whose advantage is 0 on
                                              # every token (their gradient is exactly 0 when the loss has no
                                              # KL, entropy or extra term); the normalizers stay the whole batch's

    @property
    def cpu_threads(self) -> int:
        """`threads` as a number (auto resolved on this machine)."""
        if self.threads != "auto":
            return self.threads
        import os
        return max(1, len(os.sched_getaffinity(0)) // self.ranks)


class Logging(Section):
    eval_every: int = Field(0, ge=0)   # held-out accuracy every N steps (0: before and after training only)
    eval_samples: int = Field(100, ge=0)  # held-out prompts per evaluation (greedy, one answer each; 0 = off)
    samples: int = Field(2, ge=0)      # prompts per step whose answers go to samples.jsonl (held-out answers always do)
    console: bool = True
    tensorboard: bool = True
    plot: bool = True                 # reward curve PNG in the run folder at the end


class Checkpoint(Section):
    every: int = Field(0, ge=0)       # save every N steps (0: only at the end)
    final: bool = True                # save at the end too (false: a throwaway run, e.g. a benchmark)
    keep: int = Field(2, ge=1)        # newest N checkpoints kept
    resume: str = "auto"              # auto | never | a checkpoint folder
    export: bool = True               # plain HF folder (model + processor) at the end


class Dump(Section):
    enabled: bool = False
    source_key: str = "source"            # the sample field naming its data source (a trailing /<index> is dropped)
    window: int = Field(300, ge=1)        # recent |advantages| kept per source
    tau: float = Field(0.1, gt=0)         # softmax temperature over UCB scores
    exploration: float = Field(1.0, ge=0)


class Curriculum(Section):
    dynamic_sampling: DynamicSampling = DynamicSampling()
    dump: Dump = Dump()
    clpo: CLPOConfig = CLPOConfig()


class Recipe(Section):
    name: str = "run"
    output_dir: str = "runs/{name}"   # relative to the working directory
    backbone: Backbone = Backbone()
    data: Data = Data()
    verifiers: Verifiers = Verifiers()
    algorithm: Algorithm = Algorithm()
    rollout: Rollout = Rollout()
    training: Training = Training()
    logging: Logging = Logging()
    checkpoint: Checkpoint = Checkpoint()
    curriculum: Curriculum = Curriculum()
    tools: Optional[ToolConfig] = None   # tool calls in the rollout (docs/tools.md); None = single-turn
    _source: str | None = PrivateAttr(None)  # the YAML file this came from

    @model_validator(mode="after")
    def _prefix_single_turn(self) -> "Recipe":
        if self.tools is not None and self.data.response_prefix:
            raise ValueError("data.response_prefix is for single-turn rollouts; with tools the prompt's own "
                             "opening (e.g. a chat template's <think>) is where a first call may begin")
        return self

    @model_validator(mode="after")
    def _scene_coords_match_frames(self) -> "Recipe":
        # Questions asking for fractions judged as pixels (or the reverse) would score every answer 0.
        from mmrl_verifiers.frames import FrameError, canonical_frame

        from .data.generate import COORDS
        gen = self.data.generate
        coords = gen.config.get("coords", "pixels") if gen is not None and gen.kind == "scenes" else None
        for name in ("gui", "grounding", "aepo") if coords in COORDS else ():
            frame = self.verifiers.options.get(name, {}).get("frame")
            try:
                mismatch = frame is not None and canonical_frame(frame) not in COORDS[coords]
            except FrameError:
                continue  # the verifier's own check names a bad frame
            if mismatch:
                raise ValueError(f"data.generate.config.coords is {coords!r} but verifiers.options.{name}.frame is "
                                 f"{frame!r}: answers would be read in the wrong frame; use frame "
                                 f"{' or '.join(COORDS[coords])}")
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir.format(name=self.name))

    def resolve_path(self, path: str | None) -> Path | None:
        """A data path from the recipe: absolute, else relative to the recipe file's folder, else cwd."""
        if path is None:
            return None
        p = Path(path).expanduser()
        if p.is_absolute() or self._source is None:
            return p
        beside = Path(self._source).resolve().parent / p
        return beside if beside.exists() or not p.exists() else p

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`rollout.n=8` -> (["rollout", "n"], 8); values are YAML (`x=[1,2]`, `y=null`, `z=true`)."""
    key, eq, value = text.partition("=")
    if not eq or not key or any(not part for part in key.split(".")):
        raise UserError(f"override {text!r}: expected key.sub=value")
    try:
        return key.split("."), yaml.safe_load(value) if value else ""
    except yaml.YAMLError as e:
        raise UserError(f"override {text!r}: value is not valid YAML ({e.problem})") from None


# Keys that are alternative ways to give one thing. A layer (a recipe over its `base:`, a
# command-line override over the recipe) that sets one of them drops the alternatives it
# inherited, so the user's latest word wins and never the recipe's silently. Alternatives set in
# the same layer are refused by the schema, naming both keys.
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "data.train": ("data.generate",),
    "data.generate": ("data.train", "data.held_out"),
    "data.generate.mix": ("data.generate.task", "data.generate.config"),
    "data.generate.task": ("data.generate.mix",),
    "data.generate.kind": ("data.generate.task", "data.generate.mix", "data.generate.config"),
}
# Paths typed on the command line are relative to the working directory (recipe files: their folder).
PATH_KEYS = ("data.train", "data.held_out")
_MISSING = object()


def _get(data: dict, dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _drop(data: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    node = _get(data, ".".join(parents)) if parents else data
    if isinstance(node, dict):
        node.pop(last, None)


def _drop_alternatives(merged: dict, base: dict, top_keys: set[str]) -> None:
    """`top_keys` were set by the newer layer: drop the alternatives it did not set itself."""
    for key in top_keys & set(ALTERNATIVES):
        if _get(merged, key) in (None, _MISSING) or _get(merged, key) == _get(base, key):
            continue  # unset, or set to what it already was: nothing is replaced
        for other in ALTERNATIVES[key]:
            if other not in top_keys:
                _drop(merged, other)


def _dotted_keys(data: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in data.items():
        out.add(prefix + str(key))
        if isinstance(value, dict):
            out |= _dotted_keys(value, f"{prefix}{key}.")
    return out


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for text in overrides:
        path, value = parse_override(text)
        before = yaml.safe_load(yaml.safe_dump(data))  # a deep copy, to compare with
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
        _drop_alternatives(data, before, {".".join(path)})
    return data


def validate_recipe(data: dict, where: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as e:
        raise UserError("\n".join(f"{where}: {line}" for line in validation_lines(e, Recipe))) from None


def deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_yaml(path: Path, seen: tuple = ()) -> dict:
    """A recipe file as a dict; `base: other.yaml` (beside it) is loaded first and overlaid."""
    if not path.is_file():
        raise UserError(f"recipe {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as e:
        raise UserError(f"recipe {path}: not a UTF-8 text file (byte {e.start}: {e.reason})") from None
    except yaml.YAMLError as e:
        raise UserError(f"recipe {path}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"recipe {path}: expected a mapping of sections, got {type(data).__name__}")
    data.setdefault("name", path.stem)
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = (path.parent / str(base)).resolve()
    if base_path in seen:
        raise UserError(f"recipe {path}: base {base} includes itself")
    base_data = read_yaml(base_path, (*seen, base_path))
    merged = deep_merge(base_data, data)
    _drop_alternatives(merged, base_data, _dotted_keys(data))
    return merged


def _absolute_path_overrides(overrides: list[str]) -> list[str]:
    """A data path typed on the command line means the file the user sees from their shell."""
    out = []
    for text in overrides:
        path, value = parse_override(text)
        if ".".join(path) in PATH_KEYS and isinstance(value, str) and value:
            text = f"{'.'.join(path)}={json.dumps(str(Path(value).expanduser().resolve()))}"
        out.append(text)
    return out


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    path = Path(path)
    data = read_yaml(path)
    recipe = validate_recipe(apply_overrides(data, _absolute_path_overrides(list(overrides))), str(path))
    recipe._source = str(path)
    return recipe
