"""The preflight's record: one row per check for the summary table, and every problem as one line.

Checks never stop at the first problem: a user fixing a recipe should see all of them at once."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UserError


@dataclass
class Check:
    name: str          # what was checked: "data", "images", "model", ...
    status: str        # "ok", "FAIL", "warn" or "skipped"
    detail: str        # what was found (counts, paths), shown in the table


@dataclass
class Report:
    title: str
    checks: list[Check] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)    # one line each; any error means exit 2
    warnings: list[str] = field(default_factory=list)  # printed, not fatal

    def add(self, name: str, detail: str, errors: list[str] = (), warnings: list[str] = ()) -> bool:
        """Record one check; True when it passed (no errors)."""
        self.errors += list(errors)
        self.warnings += list(warnings)
        status = "FAIL" if errors else "warn" if warnings else "ok"
        self.checks.append(Check(name, status, detail))
        return not errors

    def skip(self, name: str, why: str) -> None:
        self.checks.append(Check(name, "skipped", why))

    def print(self, file=None) -> None:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=self.title, title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("check", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("detail", overflow="fold")
        colours = {"ok": "green", "FAIL": "bold red", "warn": "yellow", "skipped": "dim"}
        for c in self.checks:
            table.add_row(c.name, Text(c.status, style=colours[c.status]), Text(c.detail))  # paths may hold "["
        console = Console(file=file, width=120, soft_wrap=False, highlight=False)
        console.print(table)
        for line in self.warnings:
            console.print(Text.assemble(("warning: ", "yellow"), line))

    def raise_if_failed(self) -> None:
        if self.errors:
            n = len(self.errors)
            raise UserError(f"preflight found {n} problem{'s' * (n > 1)} (nothing was loaded or started):\n"
                            + "\n".join(f"  {line}" for line in self.errors))
