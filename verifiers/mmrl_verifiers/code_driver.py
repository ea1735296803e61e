"""The trusted test driver for call- and assert-style tests; it runs INSIDE the sandbox.

Reads its job from stdin (so the run's nonce is never in a file the candidate can read), then puts
an empty stdin back, runs `solution.py` as module "solution" (its `__main__` block does not run) and
each test under a per-test CPU-time alarm (CPU, not wall clock, so a verdict does not depend on how
busy the machine is; the parent's wall clock catches sleepers), and writes one JSON record per test, tagged with the nonce, to
`_results.jsonl`. The parent judges: a test without its record failed, so `sys.exit(0)` or
`os._exit(0)` before the tests gain nothing; call results are compared in the parent as JSON, so an
object whose `__eq__` always says True is not a pass there.
Standard library only: it runs under the sandbox's `python -I`.
"""
import json
import os
import signal
import sys

_dumps = json.dumps  # bound before the candidate runs, so patching `json.dumps` changes nothing here


TIMER = signal.ITIMER_PROF  # CPU time of this process; fires SIGPROF


class _TestTimeout(BaseException):
    pass


def _alarm(_signum, _frame):
    raise _TestTimeout()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _TestTimeout):
        return "timeout"
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:500]


def _resolve(namespace: dict, name: str):
    if "Solution" in namespace and isinstance(namespace["Solution"], type):
        return getattr(namespace["Solution"](), name)  # LeetCode style
    return namespace[name]


def main() -> None:
    job = json.loads(sys.stdin.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the candidate's input() sees end of file
    sys.stdin = open(0, closefd=False)
    out = open("_results.jsonl", "w", buffering=1)
    tag = job["nonce"]
    per_test = float(job["per_test_s"])

    def emit(record: dict) -> None:
        try:
            line = _dumps({**record, "nonce": tag})
        except (TypeError, ValueError, RecursionError) as e:  # custom objects count as wrong
            line = _dumps({"i": record["i"], "ok": False, "error": f"result is not JSON: {e}"[:500],
                           "nonce": tag})
        out.write(line + "\n")

    signal.signal(signal.SIGPROF, _alarm)
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        with open("solution.py", encoding="utf-8") as f:
            code = compile(f.read(), "solution.py", "exec")
        signal.setitimer(TIMER, per_test)
        exec(code, namespace)
        if job.get("setup"):
            exec(compile(job["setup"], "test_setup.py", "exec"), namespace)
        signal.setitimer(TIMER, 0)
    except BaseException as e:  # SystemExit included: the candidate does not end the run
        signal.setitimer(TIMER, 0)
        emit({"i": -1, "ok": False, "error": _describe(e)})
        return
    for i, test in enumerate(job["tests"]):
        try:
            signal.setitimer(TIMER, per_test)
            if job["mode"] == "call":
                result = _resolve(namespace, job["fn_name"])(*test)
                signal.setitimer(TIMER, 0)
                emit({"i": i, "ok": True, "result": result})
            else:
                exec(compile(test, f"test_{i}.py", "exec"), namespace)
                signal.setitimer(TIMER, 0)
                emit({"i": i, "ok": True})
        except BaseException as e:
            signal.setitimer(TIMER, 0)
            emit({"i": i, "ok": False, "error": _describe(e)})
            if job.get("stop_at_first_failure"):
                break
    emit({"i": "done", "ok": True})


if __name__ == "__main__":
    main()
