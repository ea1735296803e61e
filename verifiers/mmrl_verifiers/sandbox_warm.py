"""Warm sandbox runs: Python programs run by a zygote (sandbox_zygote.py) that lives inside one
bwrap sandbox and forks a fresh, fully isolated process per program, instead of a cold
`bwrap ... python` per program (docs/code-sandbox.md, "Warm runs").

The host side here keeps one zygote per concurrent caller and interpreter set-up (flags,
environment, extra read-only paths), writes each program's files into a dir of its own, hands the
zygote the program's stdin file and two fresh pipes, and reads stdout/stderr itself under the same
wall clock and output cap as a cold run. `run` returns None when a command cannot run warm (not
`sys.executable [flags] script|-c code ...`, not root, or the zygote could not start: then a
RuntimeWarning names the reason once) and the caller runs it cold.
"""
from __future__ import annotations

import atexit
import json
import math
import os
import resource
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from . import sandbox
from .sandbox import JOB, Limits, RunResult, SandboxError

ZYGOTE_SCRIPT = Path(__file__).with_name("sandbox_zygote.py")
FLAG_LETTERS = set("IsSPEBuq")  # interpreter flags that only change start-up: the zygote takes them too
ZYGOTE_TMPFS_MB = 1  # the zygote's own /tmp; every program gets a fresh one of its own size
START_TIMEOUT_S = 60.0
KILL_TIMEOUT_S = 30.0  # the kernel kills a fork bomb's tasks one by one: seconds on a busy host


class ZygoteUnavailable(RuntimeError):
    """The zygote could not start on this machine (the reason is in the message)."""


@dataclass(frozen=True)
class Command:
    flags: tuple[str, ...]   # e.g. ("-s", "-P", "-S")
    argv: list[str]          # what follows them: ["main.py", ...] or ["-c", code, ...]


def parse_command(cmd: list[str]) -> Command | None:
    """`sys.executable [-IsSPEBuq...] (script | -c code) [args]`, or None (runs cold)."""
    if not cmd or cmd[0] != sys.executable:
        return None
    i = 1
    while i < len(cmd) and cmd[i].startswith("-") and cmd[i] != "-c":
        if not set(cmd[i][1:]) <= FLAG_LETTERS or len(cmd[i]) < 2:
            return None
        i += 1
    rest = cmd[i:]
    if not rest or (rest[0] == "-c" and len(rest) < 2) or (rest[0] != "-c" and rest[0].startswith("-")):
        return None
    return Command(tuple(cmd[1:i]), rest)


def _job_limits(limits: Limits) -> dict[str, int] | None:
    """The program's rlimits as the zygote sets them (as a cold run's prlimit does), or None when
    one is above this process's hard limit, which the zygote inherits (raising a hard limit needs
    CAP_SYS_RESOURCE, which bwrap does not keep); a cold run then reports the failure."""
    cpu = math.ceil(limits.cpu_s or math.ceil(limits.wall_s) + 1)
    job = {"cpu": cpu, "as": limits.memory_mb << 20, "fsize": limits.fsize_mb << 20, "nofile": limits.nofile,
           "nproc": limits.nproc, "tmpfs": limits.tmpfs_mb << 20}
    wanted = {resource.RLIMIT_CPU: cpu + 1, resource.RLIMIT_AS: job["as"], resource.RLIMIT_FSIZE: job["fsize"],
              resource.RLIMIT_NOFILE: job["nofile"], resource.RLIMIT_NPROC: job["nproc"]}
    for res, value in wanted.items():
        hard = resource.getrlimit(res)[1]
        if hard != resource.RLIM_INFINITY and value > hard:
            return None
    return job


class Zygote:
    """One warm interpreter in one bwrap sandbox; runs one program at a time."""

    def __init__(self, flags: tuple[str, ...], env: dict[str, str], ro_paths: tuple[str, ...]):
        self.flags = flags
        _remove_stale_dirs()
        self.dir = Path(tempfile.mkdtemp(prefix=f"mmrl-zyg-{os.getpid()}-"))
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._log = tempfile.TemporaryFile()
        self.proc: subprocess.Popen | None = None
        self._init_pid = 0
        try:
            sandbox._write_files(self.dir, {"sandbox_zygote.py": ZYGOTE_SCRIPT.read_bytes()}, None)
            # no prlimit: the zygote keeps this process's limits, the ceiling of every program's
            cmd = [sys.executable, *flags, "sandbox_zygote.py", str(theirs.fileno())]
            full_env = {**sandbox._base_env(JOB), **env}
            info_r, info_w = os.pipe()
            argv = sandbox._bwrap_argv(self.dir, cmd, full_env, None, ro_paths, ZYGOTE_TMPFS_MB, keep_root=True)
            argv = [argv[0], "--info-fd", str(info_w), *argv[1:]]
            try:
                self.proc = subprocess.Popen(argv, cwd=self.dir, env=full_env, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True,
                                             pass_fds=(theirs.fileno(), info_w))
            finally:
                os.close(info_w)
                theirs.close()
                if self.proc is None:
                    os.close(info_r)
            answer = self._answer(START_TIMEOUT_S)
            self._init_pid = sandbox._init_pid(info_r)
            if answer is None or not answer.get("ready"):
                why = (answer or {}).get("error") or self._log_tail()
                raise ZygoteUnavailable(f"the warm sandbox did not start: {why}")
        except BaseException:
            self.close()
            raise

    def alive(self) -> bool:
        """An idle zygote never speaks first: a readable socket means it is gone."""
        return self.proc is not None and self.proc.poll() is None and not select.select([self.sock], [], [], 0)[0]

    def _answer(self, timeout: float) -> dict | None:
        """The zygote's next message, or None if it died or said nothing within `timeout`."""
        if not select.select([self.sock], [], [], timeout)[0]:
            return None
        try:
            msg = self.sock.recv(1 << 16)
        except OSError:
            return None
        return json.loads(msg) if msg else None

    def _log_tail(self) -> str:
        self._log.seek(0)
        lines = [ln for ln in self._log.read().decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1][-300:] if lines else "no message"

    def run(self, argv: list[str], files: dict[str, str | bytes], stdin: str | bytes | None, limits: Limits,
            job_limits: dict[str, int], collect: list[str]) -> RunResult:
        uid = sandbox._sandbox_uid()
        prog_dir = Path(tempfile.mkdtemp(prefix="p-", dir=self.dir))
        try:
            sandbox._write_files(prog_dir, files, uid)
            job_id = secrets.token_hex(8)
            job = {"id": job_id, "uid": uid, "dir": f"{JOB}/{prog_dir.name}", "limits": job_limits,
                   "argv": argv, "flags": list(self.flags)}
            with tempfile.TemporaryFile() as stdin_file:  # a file, so a huge stdin cannot deadlock us
                stdin_file.write(stdin.encode() if isinstance(stdin, str) else (stdin or b""))
                stdin_file.seek(0)
                out_r, out_w = os.pipe()
                err_r, err_w = os.pipe()
                t0 = time.monotonic()
                try:
                    socket.send_fds(self.sock, [json.dumps(job).encode()], [stdin_file.fileno(), out_w, err_w])
                except OSError as e:
                    raise SandboxError(f"the warm sandbox is gone ({e})") from None
                finally:
                    os.close(out_w)
                    os.close(err_w)
                try:
                    out, err, hit, answer = self._wait(job_id, out_r, err_r, t0 + limits.wall_s, limits.output_bytes)
                finally:
                    os.close(out_r)
                    os.close(err_r)
                wall = time.monotonic() - t0
            if "error" in answer:
                raise SandboxError(f"the sandbox failed: {answer['error']}")
            result = sandbox._result(answer.get("code"), out, err, hit, wall)
            result.runner = "warm"
            result.files = sandbox._collect(prog_dir, collect, limits.fsize_mb << 20)
            return result
        finally:
            shutil.rmtree(prog_dir, ignore_errors=True)

    def _wait(self, job_id: str, out_r: int, err_r: int, deadline: float, cap: int) -> tuple[bytes, bytes, str | None, dict]:
        """Read stdout/stderr until the zygote reports the run over (then nothing of it is alive and
        both pipes end) or a limit is hit (then the zygote kills the run and we wait for that)."""
        bufs = {out_r: bytearray(), err_r: bytearray()}
        open_fds = set(bufs)
        for fd in bufs:
            os.set_blocking(fd, False)
        answer, hit = None, None
        while open_fds or answer is None:
            now = time.monotonic()
            if now >= deadline:
                hit = "wall"
                break
            waiting = [*open_fds, *([self.sock] if answer is None else [])]
            for ready in select.select(waiting, [], [], deadline - now)[0]:
                if ready is self.sock:
                    answer = self._answer(0)
                    if answer is None or answer.get("id") != job_id:
                        raise SandboxError(f"the warm sandbox stopped answering: {self._log_tail()}")
                    continue
                chunk = os.read(ready, 65536)
                if not chunk:
                    open_fds.discard(ready)
                    continue
                bufs[ready] += chunk
                if len(bufs[ready]) > cap:
                    del bufs[ready][cap:]
                    hit = "output"
            if hit:
                break
        if answer is None:  # the run is still going: have it killed, and wait until it is dead
            try:
                self.sock.send(json.dumps({"kill": job_id}).encode())
            except OSError:
                pass
            answer = self._answer(KILL_TIMEOUT_S)
            if answer is None or answer.get("id") != job_id:
                self.close()  # kills the whole sandbox, the run included
                raise SandboxError(f"the warm sandbox did not end a run within {KILL_TIMEOUT_S:.0f} s")
        return bytes(bufs[out_r]), bytes(bufs[err_r]), hit, answer

    def close(self) -> None:
        """Stop the zygote and everything in its sandbox; wait until they are gone."""
        self.sock.close()  # the zygote sees end of file: it kills its run and exits
        if self.proc is not None:
            sandbox._kill_namespace(self._init_pid)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _remove_stale_dirs() -> None:
    """Dirs of zygotes whose host process died without closing them (a pool worker that was
    killed runs no atexit hook): `mmrl-zyg-<pid>-*` whose pid is gone."""
    for path in Path(tempfile.gettempdir()).glob("mmrl-zyg-*-*"):
        pid = path.name.split("-")[2]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(path, ignore_errors=True)


# --- the per-process pool of zygotes --------------------------------------------------------------

_lock = threading.Lock()
_idle: dict[tuple, list[Zygote]] = {}
_busy: set[Zygote] = set()
_unavailable: dict[tuple, str] = {}  # set-ups whose zygote could not start: they run cold


def unavailable() -> dict[tuple, str]:
    """Why warm runs are off, per interpreter set-up (empty when they all work)."""
    with _lock:
        return dict(_unavailable)


def run(cmd: list[str], files: dict[str, str | bytes] | None, stdin: str | bytes | None, limits: Limits,
        env: dict[str, str] | None, ro_paths: tuple[str, ...], collect: list[str] | None) -> RunResult | None:
    """Run `cmd` warm; None when it cannot (the caller then runs it cold)."""
    command, job_limits = parse_command(cmd), _job_limits(limits)
    if command is None or job_limits is None:
        return None
    key = (command.flags, tuple(sorted((env or {}).items())), tuple(ro_paths))
    with _lock:
        if key in _unavailable:
            return None
        zygote = _idle[key].pop() if _idle.get(key) else None
    if zygote is not None and not zygote.alive():  # killed from outside while idle: replace it
        zygote.close()
        zygote = None
    if zygote is None:
        if os.geteuid() != 0:
            _give_up(key, "a fresh uid per program needs root (this process is not)")
            return None
        try:
            zygote = Zygote(command.flags, env or {}, tuple(ro_paths))
        except (ZygoteUnavailable, OSError) as e:
            _give_up(key, str(e))
            return None
    with _lock:
        _busy.add(zygote)
    try:
        result = zygote.run(command.argv, files or {}, stdin, limits, job_limits, collect or [])
    except BaseException:
        with _lock:
            _busy.discard(zygote)
        zygote.close()  # a sandbox error or an interrupt: never reuse that zygote
        raise
    with _lock:
        _busy.discard(zygote)
        _idle.setdefault(key, []).append(zygote)
    return result


def _give_up(key: tuple, reason: str) -> None:
    with _lock:
        _unavailable[key] = reason
    warnings.warn(f"mmrl sandbox: warm runs are off ({reason}); every program runs in a cold bwrap "
                  f"sandbox of its own (same isolation, about 2x slower)", RuntimeWarning, stacklevel=3)


def close_all() -> None:
    """Stop every zygote of this process (at exit; tests)."""
    with _lock:
        zygotes = [z for zs in _idle.values() for z in zs]
        _idle.clear()
    for z in zygotes:
        z.close()


def _forget_after_fork() -> None:
    """A forked child must not share its parent's zygotes: drop its copies of their sockets (the
    parent keeps them; the zygote only ends when the parent's end closes)."""
    global _lock
    _lock = threading.Lock()
    for z in [*(z for zs in _idle.values() for z in zs), *_busy]:
        z.sock.close()
        z.proc = None
    _idle.clear()
    _busy.clear()
    _unavailable.clear()


atexit.register(close_all)
os.register_at_fork(after_in_child=_forget_after_fork)
