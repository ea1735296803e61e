"""Batch verification in worker processes with a hard per-item wall-clock limit.

A stuck check (sympy on `9^{9^{9}}`, a C-level loop) cannot be stopped from inside its process:
math-verify's SIGALRM timeout only works on a main thread and cannot interrupt C code. So items run
in worker processes, and a worker whose current item overruns its limit is killed and replaced;
the item gets its verifier's failure score with status `timeout`. A worker that dies for any other
reason yields score None (`infra_error`): an infrastructure failure is never a zero.

Items travel in chunks (one message per chunk, one reply per item), so dispatch costs little per
item; each item still has its own deadline, counted from the moment the worker reached it (the
previous item's reply). When a worker is killed, the rest of its chunk goes back to the queue and
runs elsewhere.

Rules every verifier shares are applied here, once (verifiers.md §0.2): the declared options
(contract.py), the size caps of response and gold, a list gold for verifiers whose gold is one value
("any of these": the best verdict counts, an empty list is a gold_error), and truncated generations.
"""
from __future__ import annotations

import math
import multiprocessing
import resource
import signal
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterable

from . import registry
from .contract import problems
from .verdict import Verdict

MAX_RESPONSE_CHARS = 1 << 20  # longer responses are rejected before any regex sees them
ITEM_KEYS = ("verifier", "response", "gold")
TRUNCATED = "the generation was truncated (finish_reason=length)"
MAX_CHUNK = 16       # items per message; smaller chunks near the end of a batch balance the workers
START_TRIES = 3      # consecutive workers that die before they are ready: the pool gives up


# --- the shared rules: one item, in this process -------------------------------------------------

def check_timeout(timeout: Any) -> float | None:
    """A per-item limit in seconds: None (the verifier's own) or a finite number > 0."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
            or timeout <= 0:
        raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
    return float(timeout)


def gold_size(gold: Any, cap: int) -> int:
    """Characters in the gold (its text, or the leaves of a dict/list), counting stops past `cap`."""
    if isinstance(gold, (str, bytes)):
        return len(gold)
    total, stack = 0, [gold]
    while stack and total <= cap:
        x = stack.pop()
        if isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, (str, bytes)):
            total += len(x)
        else:
            total += 8  # a number, a bool, None
    return total


def precheck(item: Any, signature: bool = True) -> tuple[registry.VerifierSpec | None, Verdict | None]:
    """(spec, None) when the item may run, else (spec or None, the verdict it gets without running).
    `signature`: also check an undeclared verifier's options against its signature (imports it)."""
    if not isinstance(item, dict):
        return None, Verdict.unjudged("infra_error", f"an item must be a dict, got {type(item).__name__}")
    try:
        spec = registry.spec(item.get("verifier"))
    except KeyError as e:
        return None, Verdict.unjudged("infra_error", str(e).strip('"'))
    response = item.get("response")
    if not isinstance(response, str):
        return spec, Verdict.fail("format_error", f"response must be a string, got {type(response).__name__}")
    if len(response) > MAX_RESPONSE_CHARS:
        return spec, Verdict.fail("format_error", f"response of {len(response)} chars exceeds the 1 MiB cap")
    options = {k: v for k, v in item.items() if k not in ITEM_KEYS}
    declared = spec.options
    if declared is None and signature:
        try:
            declared = registry.signature_options(spec.name)
        except (ImportError, AttributeError, ValueError) as e:
            return spec, Verdict.unjudged("infra_error", f"{spec.name}: cannot load the verifier ({e})")
    bad = problems(spec.name, declared, options)
    if bad:
        return spec, Verdict.unjudged("infra_error", "; ".join(bad))
    gold = item.get("gold")
    size = gold_size(gold, spec.max_gold_chars)
    if size > spec.max_gold_chars:
        return spec, Verdict.unjudged("gold_error", f"gold of more than {spec.max_gold_chars} chars "
                                                    f"exceeds the {spec.name} gold cap; not judged")
    if spec.scalar_gold and isinstance(gold, (dict, set, bytes)):  # would be judged as its repr
        return spec, Verdict.unjudged("gold_error", f"{spec.name} needs one value (or a list of values) as "
                                                    f"gold, got a {type(gold).__name__}")
    if spec.scalar_gold and isinstance(gold, (list, tuple)) and not gold:
        return spec, Verdict.unjudged("gold_error", "the gold is an empty list (a list gold means any of its elements)")
    return spec, None


def run_item(item: dict[str, Any]) -> Verdict:
    """Verify one item in this process: {"verifier", "response", "gold", **options}."""
    spec, early = precheck(item)
    if early is not None:
        return early
    options = {k: v for k, v in item.items() if k not in ITEM_KEYS}
    truncated = options.pop("finish_reason", None) == "length" and not options.pop("allow_truncated", False)
    options.pop("allow_truncated", None)
    if spec.takes_truncated:
        options["truncated"] = truncated
    elif truncated:
        return Verdict.fail("format_error", TRUNCATED, spec.fail_score, accuracy=0.0)
    gold = item.get("gold")
    if spec.scalar_gold and isinstance(gold, (list, tuple)):
        return _any_of(spec, item["response"], list(gold), options)
    return _call(spec, item["response"], gold, options)


def _call(spec: registry.VerifierSpec, response: str, gold: Any, options: dict[str, Any]) -> Verdict:
    try:
        fn = registry.get(spec.name)
    except (KeyError, ImportError, AttributeError) as e:
        return Verdict.unjudged("infra_error", f"{spec.name}: cannot load the verifier ({e})")
    try:
        return fn(response, gold, **options)
    except MemoryError:
        return Verdict.fail("resource_limit", "the verifier ran out of memory on this response", spec.fail_score)
    except Exception as e:  # a bug in a verifier, or an option it does not take: report it, never score it
        return Verdict.unjudged("infra_error", f"{spec.name}: {type(e).__name__}: {e}")


def _any_of(spec: registry.VerifierSpec, response: str, golds: list, options: dict[str, Any]) -> Verdict:
    """A list gold means "any of these": the best verdict; any element that cannot be judged makes
    the whole gold unjudged (naming the element), so a broken alternative is never silently skipped."""
    best = None
    for i, gold in enumerate(golds):
        if isinstance(gold, (list, tuple)):
            return Verdict.unjudged("gold_error", f"gold element {i} is itself a list; a list gold holds values")
        v = _call(spec, response, gold, options)
        if v.score is None:
            v.reason = f"gold element {i}: {v.reason}"
            return v
        if best is None or v.score > best.score:
            best = v
            best.info["gold_index"] = i
    return best


def verify(verifier: str, response: str, gold: Any = None, **options) -> Verdict:
    """Verify one response in this process. No hard timeout: use a VerifierPool for untrusted input."""
    return run_item({"verifier": verifier, "response": response, "gold": gold, **options})


# --- worker processes ----------------------------------------------------------------------------

def _address_space() -> int:
    """This process's virtual size in bytes now (Linux; 0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


@contextmanager
def _sigint_ignored():
    """SIGINT ignored while a worker starts (a spawned interpreter keeps an ignored SIGINT ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _worker_main(conn: Connection, memory_mb: int | None, preload: tuple[str, ...]) -> None:
    if memory_mb:  # soft limit only, so a sandbox started from here may set its own
        # on top of what is mapped already: spawn re-imports the parent's main script, and a TRL or
        # verl script imports torch at the top (GBs of address space; a bare cap failed every item)
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        soft = (memory_mb << 20) + _address_space()
        resource.setrlimit(resource.RLIMIT_AS, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    for name in preload:  # import heavy libraries once per worker, not inside a timed item
        try:
            warm_up = getattr(sys.modules[registry.get(name).__module__], "warm_up", None)
            if callable(warm_up):  # e.g. math: fill the LaTeX parser's caches (math.py)
                warm_up()
        except Exception:  # reported when an item actually needs it
            pass
    conn.send(None)  # ready: deadlines start only now, not during the imports
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        specs, chunk = message
        for spec in specs:  # a verifier registered in the parent resolves here too
            try:
                known = registry.spec(spec.name)
            except KeyError:
                known = None
            if known != spec:
                registry.register_spec(spec)
        for index, item in chunk:
            try:
                verdict = run_item(item)
            except BaseException as e:  # noqa: BLE001 (the reply must go out whatever happened)
                verdict = Verdict.unjudged("infra_error", f"{type(e).__name__}: {e}")
            conn.send((index, verdict))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    ready: bool = False
    queue: deque = field(default_factory=deque)  # (index, limit) sent, not yet answered; head runs
    started: float = 0.0  # when the head item began (the previous reply, or the chunk's sending)
    done: int = 0

    @property
    def deadline(self) -> float:
        return self.started + self.queue[0][1] if self.queue else math.inf


class VerifierPool:
    """`with VerifierPool(workers=2) as pool: verdicts = pool.map(items)`.

    Items are dicts {"verifier": name, "response": str, "gold": ..., **options}. Results keep
    the input order; one item's failure never fails the batch."""

    def __init__(self, workers: int = 2, max_tasks: int = 1000, memory_mb: int | None = 2048,
                 preload: Iterable[str] = ("math",), start_method: str = "spawn"):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        self.workers, self.max_tasks = workers, max_tasks
        self._ctx = multiprocessing.get_context(start_method)
        self._args = (memory_mb, tuple(preload))
        self._workers = [self._spawn() for _ in range(workers)]
        self._failed_starts = 0
        self.messages = 0  # chunks sent to workers (a batch of n items needs far fewer than n)

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker_main, args=(child, *self._args), daemon=True)
        with _sigint_ignored():  # inherited by the child: Ctrl-C is the parent's to handle (it stops
            process.start()     # the workers); a worker interrupted mid-start printed a traceback
        child.close()
        return _Worker(process, parent)

    def _retire(self, w: _Worker, kill: bool) -> None:
        if kill:
            w.process.kill()
        else:
            try:
                w.conn.send(None)
            except OSError:
                pass
        w.process.join(timeout=5)
        if w.process.is_alive():
            w.process.kill()
            w.process.join()
        w.conn.close()
        self._workers[self._workers.index(w)] = self._spawn()

    def map(self, items: list[dict[str, Any]], timeout: float | None = None,
            on_result: Callable[[int, Verdict], None] | None = None) -> list[Verdict]:
        """Verdicts in input order; `on_result(i, verdict)` is called in input order as they come."""
        timeout = check_timeout(timeout)
        for w in list(self._workers):
            if w.queue:  # an interrupted earlier map: its replies must not land in this one
                self._retire(w, kill=True)
        out: list[Verdict | None] = [None] * len(items)
        pending: deque = deque()
        specs: dict[str, registry.VerifierSpec] = {}
        for i, item in enumerate(items):
            spec, early = precheck(item, signature=False)
            if early is not None:
                out[i] = early
            else:
                specs[spec.name] = spec
                pending.append((i, item, timeout or spec.timeout))
        reported = 0

        def report() -> None:
            nonlocal reported
            while reported < len(out) and out[reported] is not None:
                if on_result:
                    on_result(reported, out[reported])
                reported += 1

        report()
        while reported < len(out):
            self._dispatch(pending, items, specs)
            self._collect(pending, items, out)
            report()
        return out  # type: ignore[return-value]

    def _dispatch(self, pending: deque, items: list, specs: dict) -> None:
        # A worker on its last item gets its next chunk already: no round trip between chunks.
        idle = [w for w in self._workers if w.ready and len(w.queue) <= 1]
        for w in idle:
            if not pending:
                return
            size = max(1, min(MAX_CHUNK, math.ceil(len(pending) / (4 * self.workers))))
            chunk = [pending.popleft() for _ in range(min(size, len(pending)))]
            names = {items[i]["verifier"] for i, _, _ in chunk}
            w.conn.send(([specs[n] for n in names], [(i, item) for i, item, _ in chunk]))
            self.messages += 1
            if not w.queue:  # the head's clock starts now; a running head keeps its own
                w.started = time.monotonic()
            w.queue.extend((i, limit) for i, _, limit in chunk)

    def _collect(self, pending: deque, items: list, out: list) -> None:
        """Wait for replies, a dead worker or the nearest deadline; handle what happened."""
        deadline = min(w.deadline for w in self._workers)
        waits = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
        wait(waits, timeout=None if deadline == math.inf else max(0.0, deadline - time.monotonic()))
        now = time.monotonic()
        for w in list(self._workers):
            alive = self._read(w, out)
            if not alive:
                code = w.process.exitcode if w.process.exitcode is not None else "?"
                if not w.ready:
                    self._failed_starts += 1
                    if self._failed_starts >= START_TRIES:
                        self._give_up(pending, out, f"verifier workers die on start-up (exit code {code})")
                self._requeue(w, pending, items, out, Verdict.unjudged(
                    "infra_error", f"verifier worker died (exit code {code})"))
                self._retire(w, kill=True)
            elif w.queue and now >= w.deadline:
                index, limit = w.queue[0]
                fail = registry.spec(items[index]["verifier"]).fail_score
                self._requeue(w, pending, items, out, Verdict.fail(
                    "timeout", f"no verdict within {limit:g} s; the worker was killed", fail))
                self._retire(w, kill=True)
            elif not w.queue and w.done >= self.max_tasks:
                self._retire(w, kill=False)  # a fresh process bounds what a long run leaks

    def _read(self, w: _Worker, out: list) -> bool:
        """Take every reply waiting from `w`; False when the worker is gone."""
        try:
            while w.conn.poll():
                message = w.conn.recv()
                if message is None:
                    w.ready = True
                    self._failed_starts = 0
                    continue
                index, verdict = message
                if w.queue and w.queue[0][0] == index:
                    w.queue.popleft()
                out[index] = verdict
                w.done += 1
                w.started = time.monotonic()
        except (EOFError, OSError):
            return False
        return w.process.is_alive() or w.conn.poll()

    @staticmethod
    def _requeue(w: _Worker, pending: deque, items: list, out: list, head_verdict: Verdict) -> None:
        """The head item gets `head_verdict`; the rest of the chunk runs again elsewhere, first."""
        if w.queue:
            out[w.queue.popleft()[0]] = head_verdict
        while w.queue:
            index, limit = w.queue.pop()
            pending.appendleft((index, items[index], limit))

    @staticmethod
    def _give_up(pending: deque, out: list, reason: str) -> None:
        while pending:
            out[pending.popleft()[0]] = Verdict.unjudged("infra_error", reason)

    def close(self) -> None:
        for w in self._workers:
            if w.queue:  # busy (an interrupted map): nothing it returns is wanted any more
                w.process.kill()
                continue
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in self._workers:
            w.process.join(timeout=5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()
        self._workers = []

    def __enter__(self) -> "VerifierPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def verify_batch(items: list[dict[str, Any]], workers: int = 2, timeout: float | None = None,
                 **pool_options) -> list[Verdict]:
    """One-shot convenience: start a pool, verify `items`, stop the pool."""
    check_timeout(timeout)
    with VerifierPool(workers=workers, **pool_options) as pool:
        return pool.map(items, timeout)
