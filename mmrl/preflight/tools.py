"""The tools a recipe or benchmark enables: known names, importable user modules, and each tool's own
check of this machine (the python tool needs the sandbox), before any engine starts."""
from __future__ import annotations

from ..errors import UserError
from .report import Report


def check_tools(report: Report, tools) -> None:
    """`tools`: a ToolConfig, or None (no tools: nothing to check)."""
    if tools is None:
        return
    from ..tools.registry import check_tools as check_enabled, load_tool_modules
    try:
        load_tool_modules(tools.modules)
        check_enabled(tools.enabled, tools.options)
        report.add("tools", ", ".join(tools.enabled))
    except UserError as e:
        report.add("tools", ", ".join(tools.enabled), [str(e)])
