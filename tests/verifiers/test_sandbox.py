"""The sandbox runner: its API, and the adversarial programs of verifiers.md §3.5 (C3-C11), each
run both warm (forked by the zygote) and cold (a bwrap of its own).

A cold adversarial program carries a unique marker in its command line (forked children inherit
it); a warm one has the zygote's command line, so there the check is that nothing but the zygote
is left in its sandbox. Either way a file outside the sandbox is untouched.
Contamination between consecutive warm runs of one zygote: test_sandbox_warm.py."""
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mmrl_verifiers import sandbox
from mmrl_verifiers.sandbox import Limits, SandboxError, SandboxUnavailable, run_sandboxed
from sandbox_checks import host_guard, leftovers, zygote_leftovers

PY = [sys.executable, "-I", "main.py"]


@pytest.fixture
def host_file():
    with host_guard() as path:
        yield path


@pytest.fixture(params=["warm", "cold"])
def runner(request):
    return request.param


def run_adversarial(source: str, host_file: Path, runner: str, **limit_kw):
    marker = f"mmrl-adv-{uuid.uuid4().hex}"
    t0 = time.monotonic()
    res = run_sandboxed(PY + [marker], files={"main.py": source.replace("HOST", str(host_file))},
                        limits=Limits(**{"wall_s": 3.0, **limit_kw}), warm=runner == "warm")
    elapsed = time.monotonic() - t0
    assert res.runner == runner
    # checked at once: run_sandboxed returns after the namespace died
    assert leftovers(marker) == [] and zygote_leftovers() == []
    return res, elapsed  # the host_file fixture checks the host afterwards


# --- API ----------------------------------------------------------------------------------------

def test_runs_program_with_files_stdin_and_collects_outputs(monkeypatch, runner):
    made = []
    real_mkdtemp = sandbox.tempfile.mkdtemp
    monkeypatch.setattr(sandbox.tempfile, "mkdtemp", lambda **kw: made.append(real_mkdtemp(**kw)) or made[-1])
    src = "import os\nopen('out/r.txt', 'w').write(input()[::-1])\nprint(os.getcwd(), sorted(os.listdir('.')))\n"
    res = run_sandboxed(PY, files={"main.py": src, "out/keep.txt": b"x"}, stdin="abc\n",
                        collect=["out/r.txt", "missing.txt"], warm=runner == "warm")
    assert res.exit_code == 0 and res.ok and not res.timed_out and res.limit_hit is None and res.runner == runner
    assert res.stdout == "/job ['main.py', 'out']\n"
    assert res.files == {"out/r.txt": b"cba"}
    job_dirs = [d for d in made if not os.path.basename(d).startswith("mmrl-zyg-")]  # a zygote's stays
    assert job_dirs and not any(os.path.exists(d) for d in job_dirs)  # the job dir is gone afterwards


def test_venv_packages_are_importable_read_only(runner):
    res = run_sandboxed(PY, files={"main.py": "import numpy, sys\nprint(numpy.add(2, 3), sys.prefix)\n"},
                        warm=runner == "warm")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.split() == ["5", sys.prefix]


def test_read_only_paths_under_tmp_stay_visible(tmp_path, runner):
    """A venv or data folder under /tmp (a CI clone lives there) is not hidden by the program's
    private /tmp: bound read-only at the same path, in cold and warm runs alike."""
    data = tmp_path / "shared"
    data.mkdir()
    (data / "gold.txt").write_text("42")
    src = f"import pathlib\np = pathlib.Path({str(data / 'gold.txt')!r})\nprint(p.read_text())\np.write_text('0')\n"
    res = run_sandboxed(PY, files={"main.py": src}, ro_paths=(str(data),), warm=runner == "warm")
    assert res.stdout == "42\n", res.stderr
    assert "Read-only file system" in res.stderr and (data / "gold.txt").read_text() == "42"


def test_exit_codes_and_stderr_are_reported(runner):
    warm = runner == "warm"
    res = run_sandboxed(PY, files={"main.py": "import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)\n"}, warm=warm)
    assert (res.exit_code, res.stderr, res.ok) == (3, "boom\n", False)
    res = run_sandboxed(PY, files={"main.py": "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n"}, warm=warm)
    assert res.exit_code == 128 + 15  # the program is not its namespace's init (which ignores such signals)


def test_collect_does_not_follow_links_out_of_the_job_dir(host_file, runner):
    src = f"import os\nos.symlink({str(host_file)!r}, 'leak.txt')\nos.symlink('/etc/hostname', 'h.txt')\n"
    res = run_sandboxed(PY, files={"main.py": src}, collect=["leak.txt", "h.txt", "../../etc/passwd"],
                        warm=runner == "warm")
    assert res.exit_code == 0, res.stderr
    assert res.files == {}


def test_file_names_must_stay_inside_the_job_dir():
    with pytest.raises(ValueError, match="outside the job dir"):
        run_sandboxed(PY, files={"../evil.py": "x"})


def test_sandboxed_command_hosts_a_long_lived_process(tmp_path):
    src = "import os, sys\nfor line in sys.stdin:\n    print(line.strip()[::-1], os.getuid() != 0, flush=True)\n"
    argv, env = sandbox.sandboxed_command(tmp_path, PY, {"main.py": src})
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        proc.stdin.write("abc\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "cba True\n"
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def test_a_broken_sandbox_raises_instead_of_blaming_the_program():
    with pytest.raises(SandboxError, match="the sandbox failed: bwrap: .*/no/such/dir"):
        run_sandboxed(["true"], ro_paths=("/no/such/dir",))


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="sandbox mode 'docker'"):
        run_sandboxed(["true"], mode="docker")


def test_missing_bwrap_refuses_and_names_the_explicit_weaker_mode(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox._bwrap_problem.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="not installed.*'unsafe-rlimits-only'"):
            run_sandboxed(["true"])
    finally:
        sandbox._bwrap_problem.cache_clear()


def test_unsafe_mode_runs_with_rlimits_only_when_chosen():
    res = run_sandboxed(PY, files={"main.py": "x = bytearray(3 << 30)\n"}, mode="unsafe-rlimits-only",
                        limits=Limits(memory_mb=512))
    assert res.limit_hit == "memory" and res.exit_code == 1
    res = run_sandboxed(PY, files={"main.py": "import os\nprint(os.path.exists('/etc/passwd'))\n"},
                        mode="unsafe-rlimits-only")
    assert res.stdout == "True\n"  # no isolation: that is what the name says


# --- adversarial programs -----------------------------------------------------------------------

def test_infinite_loop_is_killed_at_the_wall_limit(host_file, runner):
    res, elapsed = run_adversarial("while True: pass\n", host_file, runner, wall_s=2.0)
    assert res.timed_out and res.limit_hit == "wall" and res.exit_code is None
    assert 1.9 <= res.wall_s < 4.0 and elapsed < 6.0  # margins for a loaded CI


def test_sleep_is_killed_by_the_wall_clock_not_cpu(host_file, runner):
    res, _ = run_adversarial("import time\ntime.sleep(100)\n", host_file, runner, wall_s=1.5)
    assert res.timed_out and res.limit_hit == "wall"


def test_cpu_limit_stops_a_busy_program_before_the_wall(host_file, runner):
    res, _ = run_adversarial("while True: pass\n", host_file, runner, wall_s=30.0, cpu_s=1)  # wall: a loaded CI
    assert res.limit_hit == "cpu" and not res.timed_out and res.exit_code == 128 + 24  # SIGXCPU


def test_memory_bomb_hits_the_address_space_limit(host_file, runner):
    res, elapsed = run_adversarial("x = bytearray(4 * 1024 ** 3)\n", host_file, runner, memory_mb=512)
    assert res.limit_hit == "memory" and "MemoryError" in res.stderr and elapsed < 4.0


def test_fork_bomb_is_capped_and_leaves_nothing(host_file, runner):
    src = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    res, elapsed = run_adversarial(src, host_file, runner, wall_s=2.0, nproc=16)
    assert res.timed_out and elapsed < 6.0  # wall 2 s + margin for a loaded CI


def test_fork_limit_counts_only_this_sandbox(host_file, runner):
    src = ("import os, time\nn = 0\nfor _ in range(100):\n    try:\n        pid = os.fork()\n"
           "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
           "    n += 1\nprint(n)\n")
    res, _ = run_adversarial(src, host_file, runner, nproc=12)
    assert res.stdout == "11\n"  # 12 tasks: the program and 11 children, the rest refused


def test_setsid_escape_dies_with_the_sandbox(host_file, runner):
    src = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
           "        time.sleep(60)\n    os._exit(0)\ntime.sleep(0.3)\nprint('parent done')\n")
    res, _ = run_adversarial(src, host_file, runner)
    assert res.exit_code == 0 and res.stdout == "parent done\n"


def test_host_files_are_invisible(host_file, runner):
    repo_code = Path(__file__).resolve().parents[2] / "mmrl"
    src = ("import os\nprint([os.path.exists(p) for p in ['/etc/passwd', '/home', '/root/.bashrc', 'HOST', "
           f"{str(repo_code)!r}, '/work/shared']])\n")
    res, _ = run_adversarial(src, host_file, runner)
    assert res.stdout == "[False, False, False, False, False, False]\n"


def test_writing_outside_the_job_dir_fails(host_file, runner):
    src = ("import os\nfor p in ['HOST', '/usr/evil', sys_prefix + '/evil', '/evil', '../evil']:\n"
           "    try:\n        open(p, 'w').write('pwned')\n        print('wrote', p)\n"
           "    except OSError as e:\n        print(type(e).__name__)\n"
           "open('/tmp/evil', 'w').write('private tmpfs only')\n")
    res, _ = run_adversarial(f"sys_prefix = {sys.prefix!r}\n" + src, host_file, runner)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines() == ["FileNotFoundError", "OSError", "OSError",  # absent, read-only
                                       "PermissionError", "PermissionError"]        # root-owned sandbox /
    assert not os.path.exists(os.path.join(sys.prefix, "evil")) and not os.path.exists("/usr/evil")
    assert not os.path.exists("/evil") and not os.path.exists("/tmp/evil")


def test_network_is_unreachable(host_file, runner):
    src = ("import socket\nprint(sorted(n for _, n in socket.if_nameindex()))\n"
           "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n    print('connected')\n"
           "except OSError as e:\n    print('refused', e.errno)\n")
    res, _ = run_adversarial(src, host_file, runner)
    assert res.stdout.splitlines()[0] == "['lo']"
    assert res.stdout.splitlines()[1].startswith("refused")


def test_huge_output_is_cut_at_the_cap(host_file, runner):
    src = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    res, elapsed = run_adversarial(src, host_file, runner, output_bytes=1 << 20)
    assert res.limit_hit == "output" and len(res.stdout) == 1 << 20 and elapsed < 3.0


def test_big_file_hits_the_file_size_limit(host_file, runner):
    src = "open('big.bin', 'wb').write(b'0' * (64 << 20))\n"
    res, _ = run_adversarial(src, host_file, runner, fsize_mb=16)
    assert res.limit_hit == "fsize" and "File too large" in res.stderr


def test_sandbox_uid_is_not_root_and_has_no_capabilities(host_file, runner):
    src = "import os\nstatus = open('/proc/self/status').read()\nprint(os.getuid(), [l for l in status.splitlines() if l.startswith('CapEff')])\n"
    res, _ = run_adversarial(src, host_file, runner)
    uid, caps = res.stdout.split(" ", 1)
    assert int(uid) != 0 and caps.strip() == "['CapEff:\\t0000000000000000']"
