"""Warm sandbox runs (sandbox_warm.py + sandbox_zygote.py): a hostile program leaves nothing for
the next one run by the same zygote, each run gets the isolation of a cold one, a warm program sees
the interpreter a cold one sees, and a zygote that cannot start falls back to cold runs, saying so.
The adversarial programs themselves run warm and cold in test_sandbox.py."""
import json
import os
import resource
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from mmrl_verifiers import sandbox, sandbox_warm
from mmrl_verifiers.code import PYTHON
from mmrl_verifiers.sandbox import Limits, SandboxError, run_sandboxed
from sandbox_checks import host_guard, zygote_leftovers

PY = [sys.executable, "-I", "main.py"]
KEY = (("-I",), (), ())  # sandbox_warm's key for PY with the default environment

HOSTILE = """
import builtins, ctypes, os, signal, sys, time
open('/tmp/evil', 'w').write('x')
open('left_behind.txt', 'w').write('x')
for path in ['/dev/shm/evil', '/evil', '../evil']:
    try:
        open(path, 'w').write('x')
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
print('shm', libc.shmget(0x5EED, 4096, 0o1666) >= 0)  # SysV shared memory outlives its process
print('key', libc.syscall(248, b'user', b'evil', b'x', 1, -3) > 0)  # add_key to the session keyring
if os.fork() == 0:  # a daemon that leaves the session
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
builtins.len = lambda x: 0
sys.modules['json'] = None
signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.environ['EVIL'] = '1'
os.umask(0o777)
leaked = [open('/dev/null') for _ in range(10)]
print('done', flush=True)
"""

OBSERVER = """
import json, os, signal, sys
try:
    keys = [line for line in open('/proc/keys') if 'evil' in line]
except OSError:
    keys = []
print(json.dumps({
    'tmp': sorted(os.listdir('/tmp')), 'job': sorted(os.listdir('.')), 'dev_shm': sorted(os.listdir('/dev/shm')),
    'shm': open('/proc/sysvipc/shm').read().splitlines()[1:], 'keys': keys,
    'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), 'fds': sorted(os.listdir('/proc/self/fd')),
    'len': len([1, 2]), 'json': sys.modules.get('json') is not None, 'environ': sorted(os.environ),
    'sigterm': signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, 'umask': os.umask(0o022),
}))
"""


def _zygote_pids() -> list[int]:
    return [z.proc.pid for z in sandbox_warm._idle.get(KEY, [])]


def test_a_hostile_program_leaves_nothing_for_the_next_one():
    with host_guard():
        first = run_sandboxed(PY, files={"main.py": "pass\n"})
        zygotes = _zygote_pids()
        hostile = run_sandboxed(PY, files={"main.py": HOSTILE})
        assert hostile.runner == "warm" and hostile.exit_code == 0, hostile.stderr
        assert hostile.stdout.split("\n")[:2] == ["shm True", "key True"]  # the attacks did take effect
        assert zygote_leftovers() == []  # the daemon died with the run
        killer = run_sandboxed(PY, files={"main.py": "import os, signal\nos.kill(-1, signal.SIGKILL)\n"})
        assert "ProcessLookupError" in killer.stderr  # kill(-1) found nothing it may signal: not init, not the zygote
        warm = run_sandboxed(PY, files={"main.py": OBSERVER})
        assert _zygote_pids() == zygotes and first.runner == warm.runner == "warm"  # one and the same zygote
    cold = run_sandboxed(PY, files={"main.py": OBSERVER}, warm=False)
    seen = json.loads(warm.stdout)
    assert seen == json.loads(cold.stdout)  # exactly what a program in a sandbox of its own sees
    # /tmp is empty but for the read-only python roots that live under it (a CI clone's venv)
    roots_under_tmp = sorted({Path(r).relative_to("/tmp").parts[0] for r in sandbox._python_roots()
                              if r.startswith("/tmp/")})
    assert seen["tmp"] == roots_under_tmp and seen["job"] == ["main.py"] and seen["shm"] == [] and seen["keys"] == []
    assert seen["pids"] == [1, 2] and seen["fds"] == ["0", "1", "2", "3"] and seen["len"] == 2
    assert seen["json"] and seen["sigterm"] and "EVIL" not in seen["environ"]


def test_each_run_gets_a_fresh_uid_and_no_capabilities():
    src = ("import os\nst = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())\n"
           "print(os.getuid(), os.getgid(), os.getgroups(), "
           "[st[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs')])\n")
    runs = [run_sandboxed(PY, files={"main.py": src}) for _ in range(2)]
    assert [r.runner for r in runs] == ["warm", "warm"]
    (uid1, gid1, *rest1), (uid2, *_) = (r.stdout.split(" ", 3) for r in runs)
    assert uid1 == gid1 and int(uid1) >= 1_000_000 and uid1 != uid2
    assert rest1 == ["[]", "['0000000000000000', '0000000000000000', '0000000000000000', "
                           "'0000000000000000', '0000000000000000', '1']\n"]


PROBE = """
import builtins, json, os, sys
print(json.dumps({'argv': sys.argv, 'path': sys.path, 'flags': list(sys.flags), 'name': __name__,
    'file': globals().get('__file__'), 'cwd': os.getcwd(), 'hash': hash('abc') if sys.flags.hash_randomization == 0 else None,  # -I: random per interpreter
    'stdio': [(s.encoding, s.errors, s.line_buffering) for s in (sys.stdin, sys.stdout, sys.stderr)],
    'environ': sorted(os.environ.items()), 'exit': hasattr(builtins, 'exit'), 'stdin': sys.stdin.read(),
    'orig_argv': sys.orig_argv, 'main': sys.modules['__main__'].__dict__ is globals()}))
"""


@pytest.mark.parametrize("cmd", [PY + ["arg"], PYTHON + ["main.py"]], ids=["python -I", "code verifier"])
def test_a_warm_program_sees_the_interpreter_a_cold_one_sees(cmd):
    runs = {warm: run_sandboxed(cmd, files={"main.py": PROBE}, stdin="in\n", warm=warm) for warm in (True, False)}
    assert runs[True].runner == "warm" and runs[False].runner == "cold"
    warm, cold = (json.loads(runs[w].stdout) for w in (True, False))
    assert warm == cold


@pytest.mark.parametrize("src", [
    "raise ValueError('bad input')\n", "import sys\nsys.exit('a message')\n", "def f(:\n",
    "import sys\nsys.exit(7)\n", "raise KeyboardInterrupt\n",
    "import atexit, threading, time\nf = open('out.txt', 'w')\nf.write('unflushed')\n"
    "atexit.register(lambda: print('atexit ran'))\n"
    "threading.Thread(target=lambda: (time.sleep(0.2), print('thread done'))).start()\nprint('main done')\n",
], ids=["exception", "exit message", "syntax error", "exit code", "ctrl-c", "shutdown"])
def test_a_warm_program_ends_as_a_cold_one_does(src):
    runs = [run_sandboxed(PY, files={"main.py": src}, collect=["out.txt"], warm=w) for w in (True, False)]
    assert runs[0].runner == "warm"
    warm, cold = ((r.exit_code, r.stdout, r.stderr.strip().splitlines()[-1:], r.files) for r in runs)
    assert warm == cold


def test_leftover_check_sees_a_running_program():  # so that zygote_leftovers() == [] means something
    run = threading.Thread(target=run_sandboxed, args=(PY, {"main.py": "import time\ntime.sleep(1.5)\n"}))
    run.start()
    deadline = time.monotonic() + 5
    while not zygote_leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert zygote_leftovers()
    run.join()
    assert zygote_leftovers() == []


def test_only_the_zygote_stays_in_its_dir_between_runs():
    run_sandboxed(PY, files={"main.py": "open('x', 'w').write('x')\n", "data/in.txt": "x"})
    for z in sandbox_warm._idle[KEY]:
        assert os.listdir(z.dir) == ["sandbox_zygote.py"]


def test_a_zygote_that_cannot_start_falls_back_to_cold_runs_and_says_so(monkeypatch, tmp_path):
    broken = tmp_path / "zygote.py"
    broken.write_text("raise SystemExit('this zygote cannot start')\n")
    monkeypatch.setattr(sandbox_warm, "ZYGOTE_SCRIPT", broken)
    env = {"MMRL_TEST": uuid.uuid4().hex}  # a set-up no zygote has started for yet
    key = (("-I",), tuple(env.items()), ())
    try:
        with pytest.warns(RuntimeWarning, match="warm runs are off .*cannot start.*cold bwrap"):
            res = run_sandboxed(PY, files={"main.py": "print(6 * 7)\n"}, env=env)
        assert (res.runner, res.stdout) == ("cold", "42\n")
        assert "this zygote cannot start" in sandbox_warm.unavailable()[key]
        assert run_sandboxed(PY, files={"main.py": "print(1)\n"}, env=env).runner == "cold"  # no new try
    finally:
        sandbox_warm._unavailable.pop(key, None)


@pytest.mark.parametrize("cmd", [[sys.executable, "-m", "main"], ["python3", "main.py"], [sys.executable, "-X", "dev", "main.py"]])
def test_commands_the_zygote_cannot_run_go_cold(cmd):
    res = run_sandboxed(cmd, files={"main.py": "print(1)\n"})
    assert res.runner == "cold"


def test_warm_runs_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("MMRL_SANDBOX_WARM", "0")
    assert run_sandboxed(PY, files={"main.py": "print(1)\n"}).runner == "cold"


def test_limits_above_the_callers_own_are_not_raised_quietly():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard open-files limit here")
    with pytest.raises(SandboxError, match="prlimit"):  # the zygote declines, and a cold run reports it
        run_sandboxed(PY, files={"main.py": "print(1)\n"}, limits=Limits(nofile=hard + 1))


@pytest.mark.parametrize("cmd", [[sys.executable, "main.py"], [sys.executable, "-s", "-c", "import main"]])
def test_a_program_imports_its_own_modules_not_the_zygotes_folder(cmd):
    files = {"main.py": "import helper, sys\nprint(helper.X, sys.path[0])\n", "helper.py": "X = 42\n"}
    runs = [run_sandboxed(cmd, files=files, warm=w) for w in (True, False)]
    assert runs[0].runner == "warm" and runs[0].stdout == runs[1].stdout and runs[0].stdout.startswith("42 ")


def test_a_zygote_killed_while_idle_is_replaced():
    assert run_sandboxed(PY, files={"main.py": "pass\n"}).runner == "warm"
    (zygote,) = sandbox_warm._idle[KEY]
    old = zygote.proc.pid
    sandbox._kill_namespace(zygote._init_pid)  # its bwrap init: the zygote dies with the namespace
    res = run_sandboxed(PY, files={"main.py": "print(42)\n"})
    assert (res.runner, res.stdout) == ("warm", "42\n")
    assert [z.proc.pid for z in sandbox_warm._idle[KEY]] not in ([old], [])
