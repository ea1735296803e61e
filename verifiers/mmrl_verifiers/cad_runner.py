"""Runs untrusted CadQuery scripts and returns the triangles of the solid they build.

This file is started inside the sandbox as a zygote: `python -s -P cad_runner.py serve`. It imports
cadquery once (≈ 3-6 s), then reads one JSON job a line on stdin and runs each script in a forked
child with its own limits, so a job costs milliseconds of start-up instead of a cold import. It
answers one JSON line on stdout: {"id", "status", "reason", "mesh" (base64 .npz of vertices and
faces, or null), "wall_s"}. The trusted side recomputes every metric from the mesh; nothing the
script says about itself is believed.

The shape is the last one passed to `cq.exporters.export(shape, ...)` (which then records it
instead of writing a file, so the CADPrompt reference programs run as they are) or
`show_object(shape)`; else the variable `result`, else `r`.
"""
from __future__ import annotations

import base64
import ctypes
import json
import os
import resource
import select
import signal
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

EXIT_OK, EXIT_SCRIPT_ERROR, EXIT_NO_SOLID, EXIT_MEMORY = 0, 3, 4, 5


def _solids(shape, cq) -> list:
    if isinstance(shape, cq.Workplane):
        return [s for v in shape.vals() if isinstance(v, cq.Shape) for s in v.Solids()]
    if isinstance(shape, cq.Assembly):
        return list(shape.toCompound().Solids())
    if isinstance(shape, cq.Shape):
        return list(shape.Solids())
    return []


def run_script(source: str) -> int:
    """In the child: run the script, tessellate its solid into mesh.npz, return an exit code."""
    import cadquery as cq
    import numpy as np

    shown: list = []
    cq.exporters.export = lambda shape, *a, **k: shown.append(shape)
    namespace = {"__name__": "__main__", "cq": cq, "show_object": lambda shape, *a, **k: shown.append(shape)}
    try:
        exec(compile(source, "candidate.py", "exec"), namespace)
    except MemoryError:
        print("MemoryError: the script exceeded its memory limit", file=sys.stderr)
        return EXIT_MEMORY
    except BaseException:
        traceback.print_exc(limit=-3)
        return EXIT_SCRIPT_ERROR
    # an explicit output (export / show_object) wins over variables that may hold intermediate sketches
    shape = shown[-1] if shown else namespace.get("result", namespace.get("r"))
    if shape is None:
        print("the script left no `result` (nor `r`, show_object or cq.exporters.export)", file=sys.stderr)
        return EXIT_NO_SOLID
    solids = _solids(shape, cq)
    if not solids:
        print(f"the result ({type(shape).__name__}) holds no solid (a 2-D sketch or an empty shape)",
              file=sys.stderr)
        return EXIT_NO_SOLID
    compound = cq.Compound.makeCompound(solids)
    vertices, faces = compound.tessellate(1e-3 * compound.BoundingBox().DiagonalLength, 0.1)
    np.savez("mesh.npz", vertices=np.array([v.toTuple() for v in vertices], dtype=np.float64).reshape(-1, 3),
             faces=np.array(faces, dtype=np.int64).reshape(-1, 3))
    return EXIT_OK


def _child(source: str, limits: dict) -> None:
    os.setsid()
    for fd, name in ((0, os.devnull), (1, "stdout.txt"), (2, "stderr.txt")):
        os.dup2(os.open(name, os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
    os.closerange(3, 4096)  # no handle on the zygote's protocol pipes
    sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
    mb = 1 << 20
    for res, soft, hard in ((resource.RLIMIT_AS, limits["memory_mb"] * mb, limits["memory_mb"] * mb),
                            (resource.RLIMIT_CPU, limits["cpu_s"], limits["cpu_s"] + 1),  # SIGXCPU, then SIGKILL
                            (resource.RLIMIT_FSIZE, limits["fsize_mb"] * mb, limits["fsize_mb"] * mb),
                            (resource.RLIMIT_NOFILE, 64, 64), (resource.RLIMIT_CORE, 0, 0)):
        resource.setrlimit(res, (soft, hard))
    try:
        code = run_script(source)
    except MemoryError:
        code = EXIT_MEMORY
    except BaseException:
        traceback.print_exc(limit=-3)
        code = EXIT_SCRIPT_ERROR
    sys.stdout.flush(), sys.stderr.flush()
    os._exit(code)


def _tail(path: str, n: int = 300) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][-n:] if lines else ""


def _judge(code: int | None, signum: int | None, timed_out: bool, limits: dict) -> tuple[str, str]:
    """Status and reason from how the child ended (its stderr gives the detail)."""
    err = _tail("stderr.txt")
    if timed_out:
        return "timeout", f"the script ran over its {limits['wall_s']} s wall-clock limit and was killed"
    if signum == signal.SIGXCPU:
        return "timeout", f"the script used over its {limits['cpu_s']} s CPU limit and was killed"
    if signum == signal.SIGKILL:
        return "resource_limit", "the script was killed (CPU hard limit or out of memory)"
    if code == EXIT_OK:
        return "ok", ""
    if code == EXIT_MEMORY or "MemoryError" in err or "std::bad_alloc" in err:
        return "resource_limit", f"the script exceeded its {limits['memory_mb']} MiB memory limit"
    if "File too large" in err:
        return "resource_limit", f"the script wrote over its {limits['fsize_mb']} MiB file-size limit"
    if signum is not None:
        return "runtime_error", f"the script was killed by signal {signal.Signals(signum).name}"
    if code == EXIT_NO_SOLID:
        return "runtime_error", err or "the script built no solid"
    return "runtime_error", err or f"the script exited with code {code}"


def run_job(job: dict, own_pid_namespace: bool) -> dict:
    limits = job["limits"]
    home = os.getcwd()  # the zygote's job dir: the one writable place in the sandbox
    workdir = tempfile.mkdtemp(prefix="cad-", dir=home)
    t0 = time.monotonic()
    os.chdir(workdir)
    pid = os.fork()
    if pid == 0:
        try:
            _child(job["script"], limits)
        finally:  # the child must never return into the zygote's loop
            os._exit(EXIT_SCRIPT_ERROR)
    pidfd = os.pidfd_open(pid)
    timed_out = not select.select([pidfd], [], [], limits["wall_s"])[0]
    try:
        os.killpg(pid, signal.SIGKILL)  # the child and anything it started in its session
    except ProcessLookupError:
        pass
    _, status = os.waitpid(pid, 0)
    os.close(pidfd)
    if own_pid_namespace:  # also what escaped the session (setsid); only safe in our own PID namespace
        _kill_all_but_me()
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    verdict, reason = _judge(code, signum, timed_out, limits)
    mesh = _read_mesh() if verdict == "ok" else None
    if verdict == "ok" and mesh is None:
        verdict, reason = "runtime_error", "the script ended without its shape being exported (mesh.npz)"
    os.chdir(home)
    shutil.rmtree(workdir, ignore_errors=True)
    return {"id": job["id"], "status": verdict, "reason": reason, "mesh": mesh,
            "wall_s": round(time.monotonic() - t0, 3)}


def _read_mesh() -> str | None:
    """mesh.npz as base64, if it is a regular file (the script may have planted a link or a FIFO).
    The file-size limit bounds it."""
    try:
        fd = os.open("mesh.npz", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return base64.b64encode(f.read()).decode()


def _kill_all_but_me() -> None:
    """SIGKILL every process of the namespace but its init and us, pass after pass, until none is
    left (a fork bomb makes new ones while we kill)."""
    me = os.getpid()
    for _ in range(1000):
        others = [int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) not in (1, me)]
        if not others:
            return
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def serve(own_pid_namespace: bool) -> None:
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE=0: children cannot read our memory or fds
    out = os.fdopen(os.dup(1), "w")  # the protocol channel; stray prints (ours or imports') go to stderr
    os.dup2(2, 1)
    import cadquery  # noqa: F401  (the point of the zygote: import once, fork per script)
    import numpy  # noqa: F401
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        out.write(json.dumps(run_job(json.loads(line), own_pid_namespace)) + "\n")
        out.flush()


def _remove_stale_job_dirs() -> None:
    """Job dirs of processes that died without closing their runner (a pool worker that was
    terminated runs no atexit hook): `mmrl-cad-<pid>-*` whose pid is gone."""
    for path in Path(tempfile.gettempdir()).glob("mmrl-cad-*-*"):
        pid = path.name.split("-")[2]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(path, ignore_errors=True)


class ZygoteError(RuntimeError):
    """The zygote could not be started or stopped answering (an infrastructure failure, not the script's)."""


class ScriptRunner:
    """Host side: keeps one sandboxed zygote per process (started on first use, restarted after it
    dies, hangs or has run `max_jobs` scripts) and sends it one script at a time."""

    def __init__(self, sandbox_mode: str = "bwrap", start_timeout: float = 120.0, max_jobs: int = 500):
        self.mode, self.start_timeout, self.max_jobs = sandbox_mode, start_timeout, max_jobs
        self._proc: subprocess.Popen | None = None
        self._job_dir: str | None = None
        self._jobs = 0

    def _start(self) -> None:
        from . import sandbox
        if self.mode not in sandbox.MODES:
            raise ValueError(f"sandbox_mode must be one of {', '.join(sandbox.MODES)}, got {self.mode!r}")
        if self.mode == "bwrap":
            sandbox.check_bwrap()
        # the zygote's own caps; each script then gets its own, lower ones (memory at most this)
        limits = sandbox.Limits(wall_s=0, cpu_s=3600, memory_mb=16384, nproc=64, fsize_mb=64)
        _remove_stale_job_dirs()
        self._job_dir = tempfile.mkdtemp(prefix=f"mmrl-cad-{os.getpid()}-")
        with open(__file__, "rb") as f:
            files = {"cad_runner.py": f.read()}
        # -s -P rather than -I: isolated from user site and cwd, but PYTHONHASHSEED=0 still applies
        cmd = [sys.executable, "-s", "-P", "cad_runner.py", "serve"]
        if self.mode == "bwrap":
            cmd.append("--own-pid-namespace")
        argv, env = sandbox.sandboxed_command(Path(self._job_dir), cmd, files, limits, self.mode)
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(argv, cwd=self._job_dir, env=env, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._log, start_new_session=True)
        self._jobs = 0
        if self._read(self.start_timeout) != {"ready": True}:
            raise ZygoteError(f"the CAD sandbox did not start: {self._stderr_tail()}")

    def _read(self, timeout: float) -> dict:
        assert self._proc and self._proc.stdout
        if not select.select([self._proc.stdout], [], [], timeout)[0]:
            self.close()
            raise ZygoteError(f"the CAD sandbox gave no answer within {timeout:.0f} s")
        line = self._proc.stdout.readline()
        if not line:
            tail = self._stderr_tail()
            self.close()
            raise ZygoteError(f"the CAD sandbox exited: {tail}")
        return json.loads(line)

    def _stderr_tail(self) -> str:
        self._log.seek(0)
        lines = [ln for ln in self._log.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1][-300:] if lines else "no message"

    def run(self, source: str, limits: dict) -> dict:
        """Run one script; returns the zygote's answer (see the module docstring)."""
        if self._proc is None or self._proc.poll() is not None or self._jobs >= self.max_jobs:
            self.close()
            self._start()
        self._jobs += 1
        job_id = os.urandom(8).hex()
        assert self._proc and self._proc.stdin
        try:
            self._proc.stdin.write((json.dumps({"id": job_id, "script": source, "limits": limits}) + "\n").encode())
            self._proc.stdin.flush()
        except BrokenPipeError:
            self.close()
            raise ZygoteError("the CAD sandbox exited before taking the job") from None
        try:
            answer = self._read(limits["wall_s"] + 20)
        except ZygoteError as e:
            # The zygote was healthy when it took the job, and the script runs under the same uid as
            # it: a zygote that dies or stalls now was killed or stopped by the script.
            return {"id": job_id, "status": "runtime_error", "mesh": None, "wall_s": None,
                    "reason": f"the script broke its sandbox ({e})"}
        if answer.get("id") != job_id:
            self.close()
            raise ZygoteError("the CAD sandbox answered out of turn")
        return answer

    def close(self) -> None:
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait()
            self._proc = None
        if self._job_dir:
            shutil.rmtree(self._job_dir, ignore_errors=True)
            self._job_dir = None


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"]:
        sys.exit("usage: cad_runner.py serve [--own-pid-namespace]")
    # kill(all) is only safe as PID 1 or 2 of a fresh namespace (bwrap's init is 1); never on a host
    serve(own_pid_namespace="--own-pid-namespace" in sys.argv and os.getpid() <= 2)
