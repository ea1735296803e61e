"""The `python` tool: runs the call's code in the code verifier's sandbox (mmrl_verifiers.sandbox:
bubblewrap namespaces, rlimits, wall clock, capped output). State across the calls of one response:
each run first replays that response's earlier successful calls with their output suppressed, so
variables and imports persist; nothing is shared between responses. Replays re-execute code, so a
call that draws random numbers or reads the clock may see different values than it printed before.

options (recipe tools.options.python): memory_mb (1024), sandbox_mode ("bwrap" | "unsafe-rlimits-only")."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from mmrl_verifiers.sandbox import Limits, SandboxError, SandboxUnavailable, check_bwrap, run_sandboxed

from ..errors import UserError
from .registry import ToolContext, ToolResult, register_tool

CELL = Path(__file__).with_name("python_cell.py")
SITE_DIRS = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
# -s -P -S as the code verifier does: no user site, no script dir, no .pth scanning (faster start);
# the venv's packages (numpy, sympy) stay importable, read-only.
PYTHON = [sys.executable, "-s", "-P", "-S", "-c",
          f"import sys; sys.path += {SITE_DIRS!r}; exec(compile(open('_cell.py').read(), '_cell.py', 'exec'))"]
HISTORY = "python_history"  # ctx.state key: the response's earlier successful calls


@register_tool("python")
def python_tool(arguments: dict, ctx: ToolContext) -> ToolResult:
    code = arguments.get("code")
    if not isinstance(code, str) or not code.strip():
        return ToolResult('the python tool needs "code": a non-empty string', error="bad_arguments")
    history = ctx.state.setdefault(HISTORY, [])
    opts = ctx.options
    # The clock covers the replays too; each of them finished within one call's time before.
    limits = Limits(wall_s=ctx.timeout_s * (1 + len(history)), memory_mb=int(opts.get("memory_mb", 1024)),
                    output_bytes=4 * ctx.max_output_chars + 4096)
    files = {"_cell.py": CELL.read_bytes(), "_cells.json": json.dumps({"history": history, "code": code})}
    try:
        res = run_sandboxed(PYTHON, files=files, limits=limits, mode=opts.get("sandbox_mode", "bwrap"))
    except SandboxError as e:  # the sandbox broke, not the program: still a tool turn, counted apart
        return ToolResult(f"the sandbox failed: {e}", error="sandbox")
    out = res.stdout + res.stderr
    if res.timed_out:
        return ToolResult(out, error="timeout",
                          note=f"[timeout: the code ran longer than {limits.wall_s:g} s and was stopped]")
    if res.limit_hit == "output":
        return ToolResult(out, error="output_limit",
                          note=f"[output limit: the code printed more than {limits.output_bytes} bytes and was stopped]")
    if res.limit_hit:
        return ToolResult(out, error="resource_limit", note=f"[resource limit hit: {res.limit_hit}]")
    if res.exit_code != 0:
        return ToolResult(out, error="error", note="" if out.strip() else f"[exit code {res.exit_code}]")
    history.append(code)
    return ToolResult(out, note="" if out.strip() else "[no output: print() what you want to see]")


def _preflight(options: dict) -> None:
    """Before any rollout: a machine where the sandbox cannot start must not turn every call into an
    error turn (the run would train on a broken tool)."""
    mode = options.get("sandbox_mode", "bwrap")
    if mode == "bwrap":
        try:
            check_bwrap()
        except SandboxUnavailable as e:
            raise UserError(f"tools.enabled: python: {e}") from None


python_tool.preflight = _preflight
