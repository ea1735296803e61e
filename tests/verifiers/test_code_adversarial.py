"""Adversarial responses to the code verifier (verifiers.md §3.1, §3.5): each must end within the
limits, score as a failure with the right status, leave no process behind and the host unchanged.

stdio programs first re-exec themselves with a unique marker argument; forked children keep that
command line, so a scan of /proc for the marker finds anything of the run that survived it.
Programs run warm (forked by the sandbox's zygote, no marker in their command line): there the check
is that nothing but the zygote is left in its sandbox (sandbox_checks.zygote_leftovers)."""
import time
import uuid

import pytest

from mmrl_verifiers import VerifierPool, sandbox_warm, verify
from mmrl_verifiers.code import PYTHON
from sandbox_checks import host_guard, leftovers, zygote_leftovers

ANSWER = {"mode": "stdio", "tests": [{"input": "2 3\n", "output": "5\n"}]}  # 4 s wall clock
ADD = {"mode": "assert", "tests": ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"]}
ADD_CALL = {"mode": "call", "fn_name": "add", "tests": [{"input": "2\n3", "output": "5"}]}
REEXEC = ("import os, sys\nif 'MARKER' not in sys.argv:\n"
          "    os.execv(sys.executable, [sys.executable, '-I', __file__, 'MARKER'])\n")


def attack(program: str, gold: dict, **options):
    """Verify `program` (with HOST = a host file's path) and check the aftermath; returns the verdict."""
    marker = f"mmrl-adv-{uuid.uuid4().hex}"
    if gold["mode"] == "stdio":
        program = REEXEC + program
    with host_guard() as host:
        source = program.replace("HOST", str(host)).replace("MARKER", marker)
        t0 = time.monotonic()
        verdict = verify("code", f"```python\n{source}\n```", gold, **options)
        elapsed = time.monotonic() - t0
        assert leftovers(marker) == [] and zygote_leftovers() == []
    wall_limit = 2 * 4.0 * (1 if gold["mode"] == "stdio" else len(gold["tests"])) + 2  # see code._limits
    assert elapsed < wall_limit + 6.0, f"took {elapsed:.1f} s"  # + killing and reaping on a busy host
    assert verdict.score == 0.0, verdict
    return verdict




def test_the_verifier_runs_programs_warm():  # else the zygote checks in attack() check nothing
    sandbox_warm.close_all()
    assert verify("code", "print(5)", ANSWER).score == 1.0
    flags = tuple(PYTHON[1:PYTHON.index("-c")])
    assert [key for key in sandbox_warm._idle if key[0] == flags]


def test_fork_bomb():
    v = attack("while True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", ANSWER)
    assert v.status == "timeout"


def test_memory_bomb():
    v = attack("x = bytearray(8 * 1024 ** 3)\nprint(5)\n", ANSWER, memory_mb=512)
    assert v.status == "resource_limit" and "memory" in v.reason


def test_memory_bomb_inside_a_called_function():
    v = attack("def add(a, b):\n    return len(bytearray(8 * 1024 ** 3))\n", ADD_CALL, memory_mb=512)
    assert v.status == "resource_limit"


def test_infinite_loop():
    v = attack("while True:\n    pass\n", ANSWER)
    assert v.status == "timeout"  # CPU limit (5 s), or the wall clock (10 s) on a very busy machine


def test_infinite_loop_in_a_test_call():
    v = attack("def add(a, b):\n    while True:\n        pass\n", ADD)
    assert v.status == "timeout"


def test_setsid_escape_cannot_answer_after_the_program_ended():
    src = ("import time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(0.5)\n"
                    "    print(5, flush=True)\n    time.sleep(60)\nos._exit(0)\n")
    v = attack(src, ANSWER)
    assert v.status == "wrong"


def test_reading_host_files():
    src = "print(open('HOST').read())\n"  # the expected output is the host file's content
    v = attack(src, {"mode": "stdio", "tests": [{"input": "", "output": "host data"}]})
    assert v.status == "runtime_error" and "FileNotFoundError" in v.reason
    v = attack("print(open('/etc/passwd').read()[:4])\n", {"mode": "stdio", "tests": [{"input": "", "output": "root"}]})
    assert v.status == "runtime_error"


def test_writing_outside_the_sandbox():
    v = attack("open('HOST', 'w').write('pwned')\nprint(5)\n", ANSWER)
    assert v.status == "runtime_error"
    v = attack("import os\nopen('/evil_' + str(os.getpid()), 'w').write('x')\nprint(5)\n", ANSWER)
    assert v.status == "runtime_error" and "PermissionError" in v.reason


def test_network_access():
    src = "import urllib.request\nprint(urllib.request.urlopen('http://1.1.1.1', timeout=1).read())\n"
    v = attack(src, ANSWER)
    assert v.status == "runtime_error"


def test_huge_output():
    v = attack("import sys\nwhile True:\n    sys.stdout.write('5\\n' * 50000)\n", ANSWER)
    assert v.status == "resource_limit" and "output" in v.reason


def test_huge_output_from_a_test_call_does_not_hide_the_results():
    v = attack("import sys\ndef add(a, b):\n    sys.stdout.write('x' * (4 << 20))\n    return 0\n", ADD)
    assert v.status == "resource_limit" and "output" in v.reason


@pytest.mark.parametrize("exit_call", ["import sys\nsys.exit(0)", "import os\nos._exit(0)", "raise SystemExit",
                                       "exit()", "import signal, os\nos.kill(os.getpid(), signal.SIGKILL)"])
def test_early_exit_before_the_asserts(exit_call):  # C12, C13
    v = attack(f"def add(a, b):\n    return 0\n{exit_call}\n", ADD)
    assert v.status in ("runtime_error", "timeout") and v.parts["test_0"] == 0.0


def test_exit_inside_the_tested_function():
    v = attack("import os\ndef add(a, b):\n    os._exit(0)\n", ADD)
    assert v.status == "runtime_error" and "ended before" in v.reason


def test_printing_a_fake_pass_marker():
    src = ("import os\nos.write(1, b'__PASS__\\n')\nopen('_results.jsonl', 'w').write("
           "'{\"i\": 0, \"ok\": true}\\n{\"i\": 1, \"ok\": true}\\n{\"i\": \"done\", \"ok\": true}\\n')\nos._exit(0)\n")
    v = attack(src, ADD)
    assert v.status == "runtime_error"


def test_eq_override_fails_call_mode_and_is_flagged():  # C14
    src = "class A:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return A()\n"
    v = attack(src, ADD_CALL)
    assert v.status == "wrong" and "__eq__" in v.info["flags"]


def test_eq_override_in_assert_mode_is_zeroed_when_patterns_are_forbidden():
    src = "class A:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return A()\n"
    assert verify("code", src, ADD).score == 1.0  # the known gap of in-process asserts (§3.5 C14) ...
    v = attack(src, ADD, forbid_patterns=True)         # ... closed by the static scan when asked
    assert v.status == "wrong" and "__eq__" in v.reason


def test_a_killed_verifier_worker_takes_its_sandbox_along():
    marker = f"mmrl-adv-{uuid.uuid4().hex}"
    program = (REEXEC + "import time\ntime.sleep(30)\n").replace("MARKER", marker)
    gold = {**ANSWER, "time_limit_s": 10}
    with VerifierPool(workers=1, preload=["code"]) as pool:
        v = pool.map([{"verifier": "code", "response": program, "gold": gold}], timeout=1.5)[0]
    assert (v.score, v.status) == (0.0, "timeout")
    deadline = time.monotonic() + 5  # bwrap --die-with-parent: asynchronous, but prompt
    while leftovers(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(marker) == []
