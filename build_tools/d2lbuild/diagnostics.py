"""Findings about the sources, reported as ``file:line: message`` like a compiler."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One finding: where it is, what is wrong, and what to do about it."""

    path: str
    line: int
    message: str
    hint: str = ""
    severity: str = "error"  # "error" or "warning"

    def format(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        text = f"{where}: {self.severity}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class BuildError(Exception):
    """An error the user can act on; the CLI prints it without a traceback."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None):
        super().__init__(message)
        self.diagnostics = diagnostics or []

    def format(self) -> str:
        lines = [d.format() for d in self.diagnostics]
        lines.append(f"error: {self}")
        return "\n".join(lines)


@dataclass
class Report:
    """Collects diagnostics from several stages so one run shows all of them."""

    items: list[Diagnostic] = field(default_factory=list)

    def unique(self) -> list[Diagnostic]:
        """The findings once each (a cell shared by several tabs is checked once per tab)."""
        return sorted(set(self.items), key=lambda d: (d.path, d.line, d.message))

    def add(self, path: str | Path, line: int, message: str, hint: str = "",
            severity: str = "error") -> None:
        self.items.append(Diagnostic(str(path), line, message, hint, severity))

    def extend(self, items) -> None:
        self.items.extend(items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.unique() if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.unique() if d.severity == "warning"]

    def print(self, stream=None) -> None:
        stream = stream or sys.stderr
        for d in self.unique():
            print(d.format(), file=stream)
