"""Use mmrl verifiers as reward functions of other trainers: TRL and verl.

TRL (GRPOTrainer(reward_funcs=[...])):
    from mmrl_verifiers.adapters import trl_reward
    reward = trl_reward("math", gold_column="answer", think_mode="required")
    trainer = GRPOTrainer(model=..., reward_funcs=[reward], train_dataset=ds)  # ds has an "answer" column

verl (custom_reward_function.path=<this file>, custom_reward_function.name=compute_score, or
compute_score_batch with reward_model.reward_manager=batch): verl loads this file by its path, as
a module without a package; the verifier comes from extra_info["verifier"] (else reward_kwargs
"verifier", else "math"), its options from extra_info["verifier_options"] and the remaining
reward_kwargs. The batch form takes the numpy object arrays verl's batch reward manager passes.

Both run the verifiers in a VerifierPool, so every item has a hard time limit.
"""
from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from typing import Any, Sequence

if __package__:  # imported as mmrl_verifiers.adapters
    from .pool import VerifierPool
    from .verdict import Verdict
else:  # loaded by file path (verl's custom_reward_function.path): no parent package to be relative to
    try:
        import mmrl_verifiers  # noqa: F401  (installed)
    except ImportError:  # not installed: the package is the folder this file is in
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from mmrl_verifiers.pool import VerifierPool
    from mmrl_verifiers.verdict import Verdict


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a string, or chat messages (the last assistant turn; its content
    may be a list of parts such as {"type": "text", "text": ...})."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    turns = [m for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant"]
    if not turns:
        raise ValueError(f"completion has no assistant message: {str(completion)[:120]}")
    content = turns[-1].get("content", "")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
    return str(content)


class TRLReward:
    """A TRL reward function: `f(prompts, completions, **columns) -> list[float | None]` (None = the
    verifier could not judge; TRL ignores it in the mean). The pool starts on the first call."""

    def __init__(self, verifier: str = "math", gold_column: str = "solution",
                 option_columns: Sequence[str] = (), workers: int = 2, pool: VerifierPool | None = None,
                 **options: Any):
        self.__name__ = f"{verifier}_reward"  # TRL logs rewards under the function's name
        self.verifier, self.gold_column, self.option_columns = verifier, gold_column, tuple(option_columns)
        self.options, self.workers, self._pool = options, workers, pool

    @property
    def pool(self) -> VerifierPool:
        if self._pool is None:
            self._pool = VerifierPool(workers=self.workers, preload=(self.verifier,))
        return self._pool

    def __call__(self, prompts: list | None = None, completions: list | None = None,
                 **columns: Any) -> list[float | None]:
        completions = completions or []
        for name in (self.gold_column, *self.option_columns):
            if name not in columns:
                known = ", ".join(k for k in columns if isinstance(columns[k], list))
                raise KeyError(f"{self.__name__}: the dataset has no column {name!r} (columns: {known})")
        items = [{**self.options, "verifier": self.verifier, "response": completion_text(c),
                  "gold": columns[self.gold_column][i],
                  **{k: columns[k][i] for k in self.option_columns}}
                 for i, c in enumerate(completions)]
        return [v.score for v in self.pool.map(items)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def trl_reward(verifier: str = "math", gold_column: str = "solution", **kwargs: Any) -> TRLReward:
    """Reward function for TRL's GRPOTrainer; see TRLReward for the arguments."""
    return TRLReward(verifier, gold_column, **kwargs)


_VERL_POOL: VerifierPool | None = None


def _verl_pool() -> VerifierPool:
    global _VERL_POOL
    if _VERL_POOL is None:
        _VERL_POOL = VerifierPool(workers=int(os.environ.get("MMRL_VERIFIER_WORKERS", "2")))
        atexit.register(_VERL_POOL.close)
    return _VERL_POOL


def _verl_item(solution_str: str, ground_truth: Any, extra_info: dict | None, kwargs: dict) -> dict:
    extra = extra_info or {}
    options = {k: v for k, v in kwargs.items() if k != "verifier"}
    return {**options, **(extra.get("verifier_options") or {}),
            "verifier": extra.get("verifier") or kwargs.get("verifier") or "math",
            "response": solution_str, "gold": ground_truth}


def _verl_result(v: Verdict) -> dict[str, float]:
    # verl needs a number in every row and averages each extra key, so all values are floats:
    # an unjudged sample gets score 0.0 with judged=0.0 (verl cannot mask it; filter golds upfront).
    return {"score": v.score if v.score is not None else 0.0, "acc": v.parts.get("accuracy", 0.0),
            "format": v.parts.get("format", 0.0), "judged": float(v.judged)}


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                  **kwargs: Any) -> dict[str, float]:
    """verl's custom reward function (NaiveRewardManager): one response."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **kwargs)[0]


def compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[dict | None] | None = None, **kwargs: Any) -> list[dict[str, float]]:
    """verl's BatchRewardManager form: all responses of a step at once, spread over the pool. Every
    argument may be a list or a numpy object array (what verl passes: `non_tensor_batch` columns);
    numpy values inside (a list gold read from parquet is an array) become plain Python first."""
    solution_strs = [str(s) for s in _plain(solution_strs)]
    ground_truths = _plain(ground_truths)
    extra_infos = [None] * len(solution_strs) if extra_infos is None else _plain(extra_infos)
    if not len(ground_truths) == len(extra_infos) == len(solution_strs):
        raise ValueError(f"compute_score_batch: {len(solution_strs)} responses, {len(ground_truths)} ground "
                         f"truths and {len(extra_infos)} extra_infos; give one of each per response")
    items = [_verl_item(s, g, e, kwargs) for s, g, e in zip(solution_strs, ground_truths, extra_infos)]
    return [_verl_result(v) for v in _verl_pool().map(items)]


def _plain(value: Any) -> Any:
    """numpy arrays and scalars (anything with .tolist()) as lists and Python scalars, recursively,
    so verifiers see the types their options declare. numpy itself is not imported."""
    if isinstance(value, str):
        return str(value)  # numpy.str_ too
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, bytes):
        return _plain(value.tolist())
    return value
