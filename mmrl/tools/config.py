"""The recipe's `tools:` section: which tools a policy may call and the limits of every call."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ToolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: list[str] = ["python"]          # tool names (mmrl.tools.tool_names() + tools.modules)
    modules: list[str] = []                  # importable modules with user @register_tool functions
    max_turns: int = Field(4, ge=1)          # policy turns per response (so at most max_turns - 1 tool calls)
    timeout_s: float = Field(4.0, gt=0)      # wall clock per call
    max_output_chars: int = Field(1000, ge=16)  # longer tool text is cut, with a marker saying so
    workers: int = Field(4, ge=1)            # tool calls run concurrently on this many threads
    role: Literal["auto", "tool", "user"] = "auto"  # the tool turn's chat role (auto: tool if the template renders it)
    options: dict[str, dict[str, Any]] = {}  # per tool name, e.g. {python: {memory_mb: 1024}, zoom: {max_scale: 4}}

    @model_validator(mode="after")
    def _check(self):
        unknown = set(self.options) - set(self.enabled)
        if unknown:
            raise ValueError(f"options given for tools that are not enabled: {sorted(unknown)}")
        if not self.enabled:
            raise ValueError("enabled: name at least one tool")
        return self
