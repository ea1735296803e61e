"""Tools a policy may call while it reasons (python in the sandbox, zoom into an image); see docs/tools.md."""
from .calls import STOP_STRINGS, ToolCall, first_call
from .config import ToolConfig
from .registry import ERROR_KINDS, ToolContext, ToolResult, get_tool, register_tool, tool_names

__all__ = ["ERROR_KINDS", "STOP_STRINGS", "ToolCall", "ToolConfig", "ToolContext", "ToolResult", "first_call",
           "get_tool", "register_tool", "tool_names"]
