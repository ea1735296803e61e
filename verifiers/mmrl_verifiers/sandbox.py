"""Run an untrusted program in a throw-away sandbox (verifiers.md §3.3). Knows nothing about tests.

    res = run_sandboxed([sys.executable, "-I", "main.py"], files={"main.py": src}, stdin="2 3\\n",
                        limits=Limits(wall_s=4), collect=["out.stl"])

mode "bwrap" (default): bubblewrap with new PID, network, IPC, UTS and mount namespaces; the host is
invisible except read-only /usr and the Python installation; the job dir is the only writable place
besides a private tmpfs /tmp. When we are root, the program runs under a fresh random uid with no
capabilities, because RLIMIT_NPROC (the fork-bomb guard) does not apply to root. rlimits bound CPU,
address space, processes, file size and open files; a wall clock kills the whole sandbox (its PID
namespace dies with it); stdout/stderr are capped while being read.

Warm runs (default for `sys.executable [flags] script|-c code` commands, sandbox_warm.py): a zygote
inside one bwrap sandbox forks each program into its own PID, mount and IPC namespaces with a fresh
tmpfs /tmp, job dir and uid and the same rlimits, clock and output cap; other commands, or a zygote
that cannot start (a RuntimeWarning says why), get the cold bwrap per run described above.

mode "unsafe-rlimits-only": rlimits + own session + kill of the process group, no namespaces. It is
never chosen automatically: if bwrap cannot start, `SandboxUnavailable` says so and names this mode.
"""
from __future__ import annotations

import functools
import json
import math
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

MODES = ("bwrap", "unsafe-rlimits-only")
JOB = "/job"  # where the job dir appears inside the bwrap sandbox


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the program): the verdict is 'could not judge'."""


class SandboxUnavailable(SandboxError):
    """bwrap cannot start on this machine; the message says how to opt into the weaker mode."""


@dataclass(frozen=True)
class Limits:
    wall_s: float = 4.0          # wall clock for the whole run, enforced from outside
    cpu_s: float | None = None   # RLIMIT_CPU; default ceil(wall_s) + 1
    memory_mb: int = 2048        # RLIMIT_AS per process
    nproc: int = 32              # processes + threads of the sandbox uid (fork-bomb guard)
    fsize_mb: int = 16           # largest file the program may write
    nofile: int = 64             # open file descriptors
    output_bytes: int = 1 << 20  # stdout and stderr each; more kills the run
    tmpfs_mb: int = 64           # size of the private /tmp


@dataclass
class RunResult:
    exit_code: int | None        # shell convention: 128+N when killed by signal N; None if we killed it
    stdout: str
    stderr: str
    timed_out: bool
    limit_hit: str | None        # "wall" | "output" | "cpu" | "memory" | "fsize" | "nproc" | None
    wall_s: float
    files: dict[str, bytes] = field(default_factory=dict)  # the collected outputs (size-capped)
    runner: str = "cold"         # "warm": forked by a zygote (sandbox_warm.py); "cold": a bwrap of its own

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit_hit is None


def run_sandboxed(cmd: list[str], files: dict[str, str | bytes] | None = None,
                  stdin: str | bytes | None = None, limits: Limits = Limits(),
                  collect: list[str] | None = None, mode: str = "bwrap",
                  env: dict[str, str] | None = None, ro_paths: tuple[str, ...] = (),
                  warm: bool = True) -> RunResult:
    """Run `cmd` with cwd = a fresh private job dir holding `files`; return what happened.

    With `warm` (and mode "bwrap"), a Python command (`sys.executable [flags] script|-c code ...`)
    is forked by a warm zygote with the same isolation (sandbox_warm.py); any other command, or
    one the zygote cannot take (it says why, once, as a RuntimeWarning), gets a bwrap of its own.
    MMRL_SANDBOX_WARM=0 in the environment turns warm runs off. `RunResult.runner` says which.

    Raises SandboxUnavailable (bwrap cannot start; nothing was run) or SandboxError (the sandbox
    broke during this run). A program that fails, hangs or exceeds a limit is a normal RunResult."""
    if mode not in MODES:
        raise ValueError(f"sandbox mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "bwrap":
        check_bwrap()
        if warm and os.environ.get("MMRL_SANDBOX_WARM", "1") != "0":
            from . import sandbox_warm
            result = sandbox_warm.run(cmd, files, stdin, limits, env, ro_paths, collect)
            if result is not None:
                return result
    job = Path(tempfile.mkdtemp(prefix="mmrl-sbx-"))
    try:
        argv, full_env = sandboxed_command(job, cmd, files, limits, mode, env, ro_paths)
        result = _execute(argv, job, full_env, stdin, limits, mode)
        result.files = _collect(job, collect or [], limits.fsize_mb << 20)
        return result
    finally:
        shutil.rmtree(job, ignore_errors=True)


def sandboxed_command(job: Path, cmd: list[str], files: dict[str, str | bytes] | None = None,
                      limits: Limits = Limits(), mode: str = "bwrap", env: dict[str, str] | None = None,
                      ro_paths: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str]]:
    """Write `files` into the (empty) job dir and return the argv and environment that run `cmd`
    sandboxed there, for callers that manage a long-lived sandboxed process themselves (the CAD
    zygote). Start it with `start_new_session=True` and cwd=job; kill its process group when done."""
    uid = _sandbox_uid() if mode == "bwrap" else None
    _write_files(job, files or {}, uid)
    full_env = {**_base_env(JOB if mode == "bwrap" else str(job)), **(env or {})}
    argv = _prlimit_argv(limits, mode) + list(cmd)
    if mode == "bwrap":
        argv = _bwrap_argv(job, argv, full_env, uid, ro_paths, limits.tmpfs_mb)
    return argv, full_env


# --- set-up -------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _bwrap_problem() -> str | None:
    """Why bwrap cannot run a trivial program here (None if it can). Checked once per process."""
    if not shutil.which("bwrap"):
        return "the bwrap program (Debian package bubblewrap) is not installed"
    job = Path(tempfile.mkdtemp(prefix="mmrl-sbx-probe-"))
    try:
        argv = _bwrap_argv(job, _prlimit_argv(Limits(), "bwrap") + ["true"], _base_env(JOB), _sandbox_uid(), ())
        p = subprocess.run(argv, capture_output=True, timeout=30)
        if p.returncode != 0:
            return (p.stderr.decode(errors="replace").strip() or f"exit code {p.returncode}").splitlines()[-1]
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    finally:
        shutil.rmtree(job, ignore_errors=True)
    return None


def check_bwrap() -> None:
    problem = _bwrap_problem()
    if problem:
        raise SandboxUnavailable(
            f"the bubblewrap sandbox cannot start here ({problem}). Install bubblewrap and allow user "
            "namespaces, or opt in explicitly to the weaker, unisolated mode 'unsafe-rlimits-only' "
            "(sandbox_mode option) on a machine you trust the programs not to harm")


def _sandbox_uid() -> int | None:
    """A fresh uid per run when we are root (so RLIMIT_NPROC counts only this sandbox's tasks)."""
    return 1_000_000 + secrets.randbelow(1 << 30) if os.geteuid() == 0 else None


def _base_env(home: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home, "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


def _write_files(job: Path, files: dict[str, str | bytes], uid: int | None) -> None:
    for name, content in files.items():
        path = (job / name).resolve()
        if job.resolve() not in path.parents:
            raise ValueError(f"sandbox file name {name!r} points outside the job dir")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    if uid is not None:  # the program runs as `uid` and may write only here
        for p in [job, *job.rglob("*")]:
            os.chown(p, uid, uid)


def _python_roots() -> list[str]:
    """Folders the venv's python needs read-only: its installation and the venv itself."""
    roots = {sys.prefix, sys.base_prefix, str(Path(os.path.realpath(sys.executable)).parent.parent)}
    return sorted(r for r in roots if not r.startswith("/usr/"))


def _bwrap_argv(job: Path, cmd: list[str], env: dict[str, str], uid: int | None,
                ro_paths: tuple[str, ...], tmpfs_mb: int = Limits.tmpfs_mb, keep_root: bool = False) -> list[str]:
    """keep_root: the command stays root in the sandbox (the warm zygote, which drops each program
    to a fresh uid itself) and is not tied to the calling thread (--die-with-parent would kill it
    when the thread that started it ends; the zygote ends when its control socket closes)."""
    argv = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", *([] if keep_root else ["--die-with-parent"]), "--new-session",
            "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    if uid is None and not keep_root:  # not root: an unprivileged user namespace is the only way in
        argv += ["--unshare-user", "--cap-drop", "ALL"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    argv += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
             "--ro-bind-try", "/etc/alternatives", "/etc/alternatives"]
    # The private /tmp comes before the python roots: a venv that lives under /tmp (a CI clone)
    # is then bound on top of it instead of being hidden by it.
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(tmpfs_mb << 20), "--tmpfs", "/tmp"]
    made = {"/", "/usr", "/etc", "/tmp"}
    for root in sorted({*_python_roots(), *ro_paths}):
        parts = Path(root).parts
        for i in range(2, len(parts)):  # world-readable parents (bwrap would make them 0700)
            parent = str(Path(*parts[:i]))
            if parent not in made:
                made.add(parent)
                argv += ["--perms", "0755", "--dir", parent]
        argv += ["--ro-bind", root, root]
    argv += ["--bind", str(job), JOB, "--chdir", JOB, "--clearenv"]
    for k, v in env.items():
        argv += ["--setenv", k, v]
    argv.append("--")
    if uid is not None:  # drop root for good: fresh uid, no groups, no capabilities
        argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", "--"]
    return argv + list(cmd)


def _prlimit_argv(limits: Limits, mode: str) -> list[str]:
    """util-linux prlimit sets the rlimits right before the program starts (no preexec_fn, so the
    parent can spawn cheaply even when it is a big process; bwrap itself runs unlimited)."""
    cpu = math.ceil(limits.cpu_s or math.ceil(limits.wall_s) + 1)
    nproc = limits.nproc
    if mode == "bwrap" and os.geteuid() != 0:  # the count is shared with this user's other tasks
        nproc += _tasks_of_uid(os.getuid())
    return ["prlimit", f"--cpu={cpu}:{cpu + 1}", f"--as={limits.memory_mb << 20}",
            f"--fsize={limits.fsize_mb << 20}", f"--nofile={limits.nofile}", f"--nproc={nproc}",
            "--core=0", "--"]


def _tasks_of_uid(uid: int) -> int:
    n = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            n += int(fields.get("Threads", "1"))
    return n


# --- running ------------------------------------------------------------------------------------

def _execute(argv: list[str], job: Path, env: dict[str, str], stdin: str | bytes | None,
             limits: Limits, mode: str) -> RunResult:
    with tempfile.TemporaryFile() as stdin_file:  # a file, so a huge stdin cannot deadlock us
        stdin_file.write(stdin.encode() if isinstance(stdin, str) else (stdin or b""))
        stdin_file.seek(0)
        info_r, info_w = os.pipe()  # bwrap reports the PID of the namespace's init here
        if mode == "bwrap":
            argv = [argv[0], "--info-fd", str(info_w), *argv[1:]]
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(argv, cwd=job, env=env, stdin=stdin_file, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True, pass_fds=(info_w,))
        except OSError as e:
            raise SandboxError(f"cannot start {argv[0]}: {e}") from None
        finally:
            os.close(info_w)
        out, err, limit_hit = _read_capped(proc, t0 + limits.wall_s, limits.output_bytes)
        _kill_namespace(_init_pid(info_r))  # first, so the program never sees its pipes close
        _kill_group(proc)
        code = proc.wait()
        wall = time.monotonic() - t0
    code = 128 - code if code < 0 else code  # unsafe mode: -N from subprocess means signal N
    if code != 0 and err.startswith((b"bwrap: ", b"prlimit: ", b"setpriv: ")):  # the wrappers, not the program
        raise SandboxError(f"the sandbox failed: {err.decode(errors='replace').strip().splitlines()[0]}")
    return _result(code, out, err, limit_hit, wall)


def _result(code: int | None, out: bytes, err: bytes, limit_hit: str | None, wall: float) -> RunResult:
    """The RunResult of a run that ended with shell-style exit `code` (or was stopped at `limit_hit`)."""
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    if limit_hit:
        return RunResult(None, stdout, stderr, limit_hit == "wall", limit_hit, wall)
    return RunResult(code, stdout, stderr, False, _limit_from_exit(code, stderr), wall)


def _read_capped(proc: subprocess.Popen, deadline: float, cap: int) -> tuple[bytes, bytes, str | None]:
    """Read stdout/stderr until both close or a limit is hit (then the caller kills the group)."""
    bufs = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    sel = selectors.DefaultSelector()
    for f in bufs:
        os.set_blocking(f.fileno(), False)
        sel.register(f, selectors.EVENT_READ)
    hit = None
    exited_at = None
    while sel.get_map():
        now = time.monotonic()
        if now >= deadline:
            hit = "wall"
            break
        if exited_at is None and proc.poll() is not None:
            exited_at = now
        if exited_at is not None and now - exited_at > 0.5:  # unsafe mode: an escaped child holds the pipe
            break
        for key, _ in sel.select(timeout=min(deadline - now, 0.1)):
            chunk = key.fileobj.read(65536)
            if not chunk:
                sel.unregister(key.fileobj)
                continue
            buf = bufs[key.fileobj]
            buf += chunk
            if len(buf) > cap:
                del buf[cap:]
                hit = "output"
        if hit:
            break
    sel.close()
    return bytes(bufs[proc.stdout]), bytes(bufs[proc.stderr]), hit


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # bwrap and the namespace's init; the rest dies with it
    except ProcessLookupError:
        pass
    for f in (proc.stdout, proc.stderr):
        f.close()


def _init_pid(info_r: int) -> int:
    """The PID of the namespace's init from bwrap's --info-fd (0 if none: unsafe mode, early failure)."""
    os.set_blocking(info_r, False)
    with os.fdopen(info_r, "rb") as f:
        try:
            return int(json.loads(f.read() or b"{}").get("child-pid", 0))
        except (ValueError, AttributeError, BlockingIOError):
            return 0


def _kill_namespace(pid: int) -> None:
    """Kill the PID namespace's init and wait until it is dead: the kernel kills and reaps every
    other process of the namespace first, so nothing of the run survives our return."""
    if pid <= 0:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30.0  # the kernel kills a fork bomb's tasks one by one: seconds on a busy host
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.005)


def _limit_from_exit(code: int, stderr: str) -> str | None:
    tail = stderr[-2000:]
    if code == 128 + signal.SIGXCPU:  # soft RLIMIT_CPU (the hard one follows with SIGKILL)
        return "cpu"
    if "MemoryError" in tail or "bad_alloc" in tail or "Cannot allocate memory" in tail:
        return "memory"
    if "File too large" in tail:
        return "fsize"
    if "Resource temporarily unavailable" in tail and ("fork" in tail or "thread" in tail):
        return "nproc"
    return None


def _collect(job: Path, names: list[str], cap: int) -> dict[str, bytes]:
    """Read the requested outputs without following links the program may have planted."""
    out = {}
    root = os.path.realpath(job)
    for name in names:
        path = os.path.realpath(job / name)
        if not path.startswith(root + os.sep) or not os.path.isfile(path):
            continue
        try:
            fd = os.open(job / name, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as f:
            out[name] = f.read(cap)
    return out
