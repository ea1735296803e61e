"""The warm side of the sandbox: a Python interpreter that runs INSIDE one bwrap sandbox as root and
forks a fresh, fully isolated process per program (docs/code-sandbox.md, "Warm runs").

Started by sandbox_warm.py as `python <the program's flags> sandbox_zygote.py <control fd>`, so the
interpreter flags, environment and hash seed a program sees are those of a cold `python <flags>`.
Standard library only. It never runs untrusted code itself; per job (one JSON message with three
fds: stdin, stdout, stderr, on a SOCK_SEQPACKET socket):

  zygote --fork into a new PID namespace--> init (PID 1: new mount + IPC namespaces, /proc of its
  own, a fresh tmpfs /tmp, the job's own dir bound on /job) --fork--> program (PID 2: rlimits, no
  capabilities, a fresh uid and session keyring, fds 0-2 only; then the script runs as __main__).

The init exits when the program does, which kills everything left in its PID namespace; the zygote
answers {"id", "code"} (the shell-style exit code) or {"id", "error"} (the set-up failed) once the
init is reaped, i.e. once nothing of the run is alive. {"kill": id} from the host kills the init
at once (wall clock, output cap). End of file on the socket (the host died) kills it and exits.
"""
import atexit
import ctypes
import io
import json
import os
import re
import resource
import select
import signal
import socket
import sys
import types

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x08000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 0x1, 0x2, 0x4, 0x8, 0x20
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 1 << 18
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 4, 24, 47, 4
SYS_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING = 250, 1  # x86_64
JOB = "/job"
_libc = ctypes.CDLL(None, use_errno=True)
with open("/proc/sys/kernel/cap_last_cap") as _f:
    LAST_CAP = int(_f.read())


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    enc = lambda s: s.encode() if isinstance(s, str) else s
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


# --- in the program's process (PID 2) -------------------------------------------------------------

def _drop_privileges(job: dict) -> None:
    """rlimits, then no capabilities and a uid no other run has (RLIMIT_NPROC counts per uid)."""
    lim = job["limits"]
    for res, value in ((resource.RLIMIT_CPU, (lim["cpu"], lim["cpu"] + 1)),  # SIGXCPU, then SIGKILL
                       (resource.RLIMIT_AS, (lim["as"],) * 2), (resource.RLIMIT_FSIZE, (lim["fsize"],) * 2),
                       (resource.RLIMIT_NOFILE, (lim["nofile"],) * 2), (resource.RLIMIT_NPROC, (lim["nproc"],) * 2),
                       (resource.RLIMIT_CORE, (0, 0))):
        resource.setrlimit(res, value)
    for cap in range(LAST_CAP + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    uid = job["uid"]
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # all uids non-zero: permitted and effective capabilities are cleared
    # a session keyring of its own: the inherited one would be shared with the next program
    if _libc.syscall(SYS_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, None) < 0 and ctypes.get_errno() not in (1, 38):
        _check(-1, "join a fresh session keyring")
    _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # as a cold process: its own /proc/self/fd is readable


def _fresh_stdio() -> None:
    """New stream objects on fds 0-2, configured as the interpreter made its own (same flags and
    locale), so no buffer or state of the zygote's streams reaches the program."""
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        old = getattr(sys, name)
        raw = io.open(fd, mode + "b", buffering=0 if (fd and old.write_through) else -1, closefd=False)
        new = io.TextIOWrapper(raw, encoding=old.encoding, errors=old.errors,
                               line_buffering=old.line_buffering, write_through=old.write_through)
        setattr(sys, name, new)
        setattr(sys, f"__{name}__", new)


def _exit_code(e: SystemExit) -> int:
    """CPython's handling of an uncaught SystemExit."""
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _run_program(job: dict) -> None:
    """Run the script (or -c code) as CPython would for `python <flags> <argv>`; never returns."""
    argv = job["argv"]
    if argv[0] == "-c":
        source, filename, sys.argv, path0 = argv[1], "<string>", ["-c", *argv[2:]], ""
    else:
        filename = os.path.abspath(argv[0])
        with open(argv[0], "rb") as f:
            source = f.read()
        sys.argv, path0 = list(argv), os.path.dirname(filename)
    sys.orig_argv = [sys.executable, *job["flags"], *argv]
    if not getattr(sys.flags, "safe_path", False):  # -P, -I (Python 3.11+)
        sys.path[0] = path0  # was the zygote's own folder
    for entry in [k for k in sys.path_importer_cache if k == "" or k.startswith(JOB)]:
        del sys.path_importer_cache[entry]  # a listing of the zygote's /job, not the program's
    main = types.ModuleType("__main__")
    main.__dict__.update(__builtins__=sys.modules["builtins"], __spec__=None, __cached__=None)
    if filename != "<string>":
        main.__file__ = filename
    sys.modules["__main__"] = main
    atexit._clear()  # the zygote's own exit handlers are not the program's
    try:
        exec(compile(source, filename, "exec"), main.__dict__)
        code = 0
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException as e:  # shown without this runner's frame, as CPython shows it
        e.__traceback__ = e.__traceback__.tb_next if e.__traceback__ else None
        sys.excepthook(type(e), e, e.__traceback__)
        code = 130 if isinstance(e, KeyboardInterrupt) else 1
    # CPython's shutdown: join non-daemon threads, run atexit, release globals (flushes open files), flush stdio
    try:
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()
        atexit._run_exitfuncs()
        main.__dict__.clear()
    except BaseException as e:
        code = _exit_code(e) if isinstance(e, SystemExit) else code
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            code = 120 if stream is sys.stdout else code
    os._exit(code)


# --- in the namespace's init (PID 1) ----------------------------------------------------------------

def _mounts_under(top: str) -> list[tuple[str, int]]:
    """The read-only binds below `top` (a venv or data folder under /tmp, bound by bwrap), each with
    an O_PATH fd taken before a fresh tmpfs covers `top`, so they can be bound again on top of it."""
    with open("/proc/self/mountinfo") as f:
        points = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[4]) for line in f]  # \040: space
    below = sorted({p for p in points if p.startswith(top + "/")}, key=lambda p: p.count("/"))
    return [(p, os.open(p, os.O_PATH)) for p in below]


def _rebind_read_only(kept: list[tuple[str, int]]) -> None:
    for path, fd in kept:  # parents first
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)


def _init(job: dict, fds: list[int], status_w: int) -> None:
    """Set up the run's namespaces, fork the program and wait for it; never returns."""
    try:
        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare mount+IPC")
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount reaches the zygote
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        kept = _mounts_under("/tmp")
        _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={job['limits']['tmpfs']},mode=1777")
        _rebind_read_only(kept)
        _mount(job["dir"], JOB, None, MS_BIND | MS_REC)
        os.chdir(JOB)
        child = os.fork()
        if child == 0:
            try:
                for target, fd in enumerate(fds):
                    os.dup2(fd, target)
                _drop_privileges(job)
                _fresh_stdio()
                os.closerange(3, 1 << 16)  # the status pipe, the control socket: nothing but 0-2
            except BaseException as e:
                os.write(status_w, f"program set-up: {e}".encode()[:500])
                os._exit(1)
            _run_program(job)
    except BaseException as e:
        os.write(status_w, f"namespace set-up: {e}".encode()[:500])
        os._exit(1)
    os.closerange(0, 1 << 16)  # holds no pipe of the program's once it runs
    while True:  # PID 1 adopts orphans: reap them until the program itself ends
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


# --- the zygote -----------------------------------------------------------------------------------

def _start(job: dict, fds: list[int], own_pid_ns: int) -> tuple[int, int]:
    """Fork the job's init as PID 1 of a new PID namespace; returns (pid, status pipe read end)."""
    status_r, status_w = os.pipe()
    _check(_libc.unshare(CLONE_NEWPID), "unshare PID")  # applies to the next child only ...
    pid = os.fork()
    if pid == 0:
        os.close(status_r)
        _init(job, fds, status_w)
    _check(_libc.setns(own_pid_ns, CLONE_NEWPID), "setns PID")  # ... and is undone at once
    os.close(status_w)
    for fd in fds:
        os.close(fd)
    return pid, status_r


def _finish(job_id, pid: int, status_r: int) -> dict:
    _, status = os.waitpid(pid, 0)  # the init is reaped only after every process of its namespace
    with os.fdopen(status_r, "rb") as f:
        error = f.read().decode(errors="replace")
    if error:
        return {"id": job_id, "error": error}
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    return {"id": job_id, "code": code}


def serve(sock: socket.socket) -> None:
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    probe = {"uid": 65534 + 1, "dir": JOB, "limits": {"cpu": 1, "as": 1 << 30, "fsize": 1 << 20, "nofile": 16,
                                                     "nproc": 4, "tmpfs": 1 << 20}, "argv": ["-c", "pass"],
             "flags": []}
    devnull = [os.open(os.devnull, os.O_RDWR) for _ in range(3)]
    answer = _finish("probe", *_start(probe, devnull, own_pid_ns))  # can this machine do it at all?
    ready = answer.get("code") == 0
    sock.send(json.dumps({"ready": ready, "error": answer.get("error") or f"probe exit {answer.get('code')}"}).encode())
    if not ready:
        return
    while True:
        msg, fds, _, _ = socket.recv_fds(sock, 1 << 20, 3)
        if not msg:
            return  # the host is gone
        job = json.loads(msg)
        if "kill" in job:
            continue  # late: that run already ended
        pid, status_r = _start(job, fds, own_pid_ns)
        pidfd = os.pidfd_open(pid)
        while not select.select([pidfd, sock], [], [])[0].count(pidfd):
            msg = sock.recv(1 << 20)
            if not msg or json.loads(msg).get("kill") == job["id"]:
                os.kill(pid, signal.SIGKILL)  # the kernel then kills the whole namespace
                if not msg:
                    _finish(job["id"], pid, status_r)
                    return
        os.close(pidfd)
        sock.send(json.dumps(_finish(job["id"], pid, status_r)).encode())


if __name__ == "__main__":
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no process of a lower uid may read our memory or fds
    os.chdir(JOB)
    serve(socket.socket(fileno=int(sys.argv[1])))
