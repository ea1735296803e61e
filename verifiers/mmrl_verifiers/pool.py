"""Batch verification in worker processes with a hard per-item wall-clock limit.

A stuck check (sympy on `9^{9^{9}}`, a C-level loop) cannot be stopped from inside its process:
math-verify's SIGALRM timeout only works on a main thread and cannot interrupt C code. So every
item runs in a pebble worker process; on overrun pebble kills that worker and starts a fresh one,
and the item gets its verifier's failure score with status `timeout`. A worker that dies for any
other reason yields score None (`infra_error`): an infrastructure failure is never a zero.
"""
from __future__ import annotations

import multiprocessing
import resource
from concurrent.futures import Future, TimeoutError as FutureTimeout
from typing import Any, Callable, Iterable

import pebble

from . import registry
from .verdict import Verdict

MAX_RESPONSE_CHARS = 1 << 20  # longer responses are rejected before any regex sees them


def _init_worker(memory_mb: int | None, preload: tuple[str, ...]) -> None:
    if memory_mb:  # soft limit only, so a sandbox started from here may set its own
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, hard))
    for name in preload:  # import heavy libraries once per worker, not inside a timed item
        try:
            registry.get(name)
        except Exception:  # reported when an item actually needs it
            pass


def run_item(item: dict[str, Any]) -> Verdict:
    """Verify one item in this process: {"verifier", "response", "gold", **options}."""
    options = {k: v for k, v in item.items() if k not in ("verifier", "response", "gold")}
    response = item.get("response")
    if not isinstance(response, str):
        return Verdict.fail("format_error", f"response must be a string, got {type(response).__name__}")
    if len(response) > MAX_RESPONSE_CHARS:
        return Verdict.fail("format_error", f"response of {len(response)} chars exceeds the 1 MiB cap")
    try:
        fn = registry.get(item["verifier"])
    except (KeyError, ImportError) as e:
        return Verdict.unjudged("infra_error", str(e).strip('"'))
    try:
        return fn(response, item.get("gold"), **options)
    except MemoryError:
        return Verdict.fail("resource_limit", "the verifier ran out of memory on this response",
                            registry.spec(item["verifier"]).fail_score)
    except TypeError as e:  # most often an option the verifier does not take
        return Verdict.unjudged("infra_error", f"{item['verifier']}: {e}")


def _run_with_spec(item: dict[str, Any], spec: registry.VerifierSpec) -> Verdict:
    """Worker side: adopt the parent's spec first, so a verifier registered in the parent (not only
    a built-in) resolves in a freshly spawned worker too."""
    try:
        known = registry.spec(spec.name)
    except KeyError:
        known = None
    if known != spec:
        registry.register_spec(spec)
    return run_item(item)


class VerifierPool:
    """`with VerifierPool(workers=2) as pool: verdicts = pool.map(items)`.

    Items are dicts {"verifier": name, "response": str, "gold": ..., **options}. Results keep
    the input order; one item's failure never fails the batch."""

    def __init__(self, workers: int = 2, max_tasks: int = 1000, memory_mb: int | None = 2048,
                 preload: Iterable[str] = ("math",), start_method: str = "spawn"):
        self.workers = workers
        self._pool = pebble.ProcessPool(
            max_workers=workers, max_tasks=max_tasks, initializer=_init_worker,
            initargs=(memory_mb, tuple(preload)), context=multiprocessing.get_context(start_method))

    def submit(self, item: dict[str, Any], timeout: float | None = None) -> Future:
        name = item.get("verifier")
        try:
            spec = registry.spec(name)
        except KeyError as e:
            return _done(Verdict.unjudged("infra_error", str(e).strip('"')))
        limit = timeout or spec.timeout
        if isinstance(item.get("response"), str) and len(item["response"]) > MAX_RESPONSE_CHARS:
            return _done(run_item(item))  # rejected without shipping a huge string to a worker
        future = self._pool.schedule(_run_with_spec, args=(item, spec), timeout=limit)
        future.mmrl_limit = limit
        return future

    @staticmethod
    def result(future: Future, name: str = "") -> Verdict:
        try:
            return future.result()
        except FutureTimeout:
            limit = getattr(future, "mmrl_limit", "?")
            fail = registry.spec(name).fail_score if name in registry.names() else 0.0
            return Verdict.fail("timeout", f"no verdict within {limit} s; the worker was killed", fail)
        except pebble.ProcessExpired as e:
            return Verdict.unjudged("infra_error", f"verifier worker died (exit code {e.exitcode})")
        except Exception as e:  # a bug in a verifier: report it, do not score it
            return Verdict.unjudged("infra_error", f"{type(e).__name__}: {e}")

    def map(self, items: list[dict[str, Any]], timeout: float | None = None,
            on_result: Callable[[int, Verdict], None] | None = None) -> list[Verdict]:
        futures = [self.submit(item, timeout) for item in items]
        out = []
        for i, (item, future) in enumerate(zip(items, futures)):
            out.append(self.result(future, item.get("verifier", "")))
            if on_result:
                on_result(i, out[-1])
        return out

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=5)

    def __enter__(self) -> "VerifierPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _done(verdict: Verdict) -> Future:
    f: Future = Future()
    f.set_result(verdict)
    return f


def verify_batch(items: list[dict[str, Any]], workers: int = 2, timeout: float | None = None,
                 **pool_options) -> list[Verdict]:
    """One-shot convenience: start a pool, verify `items`, stop the pool."""
    with VerifierPool(workers=workers, **pool_options) as pool:
        return pool.map(items, timeout)


def verify(verifier: str, response: str, gold: Any = None, **options) -> Verdict:
    """Verify one response in this process. No hard timeout: use a VerifierPool for untrusted input."""
    return run_item({"verifier": verifier, "response": response, "gold": gold, **options})

