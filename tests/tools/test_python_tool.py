"""The python tool: results, state within one response only, limits as tool errors, and the code
verifier's hostile programs (tests/verifiers/test_sandbox.py) contained when they come as calls."""
import pytest

from mmrl.tools.registry import ToolContext
from mmrl.tools.runner import execute
from mmrl.tools.calls import ToolCall
from sandbox_checks import host_guard, leftovers

CMD_MARK = "open('_cell.py')"  # in the command line of every python-tool process


def ctx(timeout=4.0, max_chars=1000, **options):
    return ToolContext([], timeout, max_chars, options)


def run(code, c=None):
    c = c or ctx()
    record = execute(ToolCall("python", {"code": code}), ["python"], {"python": c}, c.max_output_chars)
    assert leftovers(CMD_MARK) == []
    return record


def test_prints_and_shows_a_final_expression():
    r = run("x = 317 * 452\nprint('x is', x)\nx + 1\n")
    assert (r.text, r.error) == ("x is 143284\n143285\n", None)


def test_state_persists_across_calls_of_one_response_not_across_responses():
    mine = ctx()
    assert run("import math\nbase = 41\nprint('set')", mine).text == "set\n"
    assert run("math.gcd(base, 82)", mine).text == "41\n"  # the replay's print stays silent
    assert run("base", ctx()).error == "error"               # another response: no such name


def test_a_failing_call_is_an_error_turn_and_is_not_replayed():
    mine = ctx()
    r = run("y = 1\nraise ValueError('boom')", mine)
    assert r.error == "error" and "ValueError: boom" in r.text and "_cell.py" not in r.text
    assert "raise ValueError('boom')" in r.text  # the traceback shows the policy's line
    assert run("print('after')", mine).text == "after\n"  # the failed call is not replayed
    assert run("y", mine).error == "error"


def test_empty_code_is_bad_arguments():
    assert run("  \n").error == "bad_arguments"


def test_long_output_is_truncated_with_a_marker():
    r = run("print('z' * 3000)", ctx(max_chars=100))
    assert r.error is None and r.truncated
    assert r.text == "z" * 100 + "\n[... truncated: 2901 more characters]"


def test_endless_output_is_stopped_and_says_so():
    r = run("while True:\n    print('y' * 1000)", ctx(max_chars=100))
    assert r.error == "output_limit" and r.truncated and len(r.text) < 400
    assert r.text.endswith("and was stopped]") and "[output limit: the code printed more than" in r.text


def test_infinite_loop_times_out_as_a_tool_turn():
    r = run("while True:\n    pass", ctx(timeout=1.5))
    assert r.error == "timeout" and "[timeout: the code ran longer than 1.5 s" in r.text and r.seconds < 6


def test_fork_bomb_is_contained():
    src = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    r = run(src, ctx(timeout=2.0))
    assert r.error in ("timeout", "resource_limit") and r.seconds < 8


def test_host_files_are_invisible_and_untouchable():
    with host_guard() as host:
        r = run(f"import os\nprint([os.path.exists(p) for p in ['/etc/shadow', '/root/.bashrc', {str(host)!r}]])\n"
                f"try:\n    open('/etc/shadow').read()\nexcept OSError as e:\n    print(type(e).__name__)\n"
                f"try:\n    open({str(host)!r}, 'w').write('pwned')\nexcept OSError as e:\n    print(type(e).__name__)\n")
    lines = r.text.splitlines()
    assert lines[0] == "[False, False, False]"  # the host file is checked unchanged by host_guard
    assert set(lines[1:]) <= {"FileNotFoundError", "PermissionError"} and len(lines) == 3


def test_network_is_unreachable():
    r = run("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n    print('connected')\n"
            "except OSError as e:\n    print('refused')\n")
    assert r.text == "refused\n"


def test_memory_bomb_is_a_resource_limit():
    r = run("x = bytearray(4 * 1024 ** 3)", ctx(memory_mb=512))
    assert r.error in ("resource_limit", "error") and "MemoryError" in r.text


@pytest.mark.parametrize("call,kind,says", [
    (ToolCall(None, problem="bad JSON"), "malformed", "malformed tool call: bad JSON"),
    (ToolCall("shell", {"cmd": "ls"}), "unknown_tool", "unknown tool 'shell'; available: python"),
])
def test_calls_that_cannot_run_become_tool_turns(call, kind, says):
    r = execute(call, ["python"], {"python": ctx()}, 1000)
    assert (r.error, r.text) == (kind, says)


def test_a_crashing_tool_is_a_tool_turn(monkeypatch):
    import mmrl.tools.registry as registry

    def broken(arguments, c):
        raise KeyError("oops")
    monkeypatch.setitem(registry._LOADED, "python", broken)
    with pytest.warns(RuntimeWarning, match="KeyError"):
        r = execute(ToolCall("python", {"code": "1"}), ["python"], {"python": ctx()}, 1000)
    assert r.error == "crash" and "KeyError" in r.text


def test_a_machine_without_the_sandbox_is_refused_before_any_rollout(monkeypatch):
    from mmrl.errors import UserError
    from mmrl.tools.registry import check_tools
    from mmrl_verifiers import sandbox
    monkeypatch.setattr(sandbox, "_bwrap_problem", lambda: "no bwrap here")
    with pytest.raises(UserError, match="tools.enabled: python: .*no bwrap here"):
        check_tools(["python"], {})
    check_tools(["python"], {"python": {"sandbox_mode": "unsafe-rlimits-only"}})  # the explicit weaker mode
