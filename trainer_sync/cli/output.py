"""Shared output helpers: rich tables for people, JSON for scripts, errors without tracebacks."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sync_rules.errors import TrainerSyncError

PIPE_WIDTH = 200
console = Console(soft_wrap=True)
error_console = Console(stderr=True, soft_wrap=True)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def print_json(data: Any) -> None:
    """Print `data` as JSON on stdout, with dates in ISO 8601."""
    print(json.dumps(data, default=_default, indent=2))


def print_table(title: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Print rows as a rich table with the given columns."""
    table = Table(title=Text(title))
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            *(Text("" if row.get(c) is None else str(_default(row.get(c)))) for c in columns)
        )
    # Piped output has no terminal width to respect: keep rows whole for grep and logs.
    wide = Console(soft_wrap=True, width=None if sys.stdout.isatty() else PIPE_WIDTH)
    wide.print(table)


def print_error(exc: TrainerSyncError) -> None:
    """Print an admin-facing error: what was wrong, then what to do."""
    error_console.print(f"[bold red]Error:[/] {exc.message}", highlight=False)
    if exc.hint:
        error_console.print(f"[yellow]What to do:[/] {exc.hint}", highlight=False)


def print_fields(title: str, fields: Mapping[str, Any]) -> None:
    """Print one object as a two-column table of its fields (values are data, never markup)."""
    table = Table(title=Text(title), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in fields.items():
        if isinstance(value, list | tuple):
            shown = ", ".join(str(v) for v in value)
        else:
            shown = "" if value is None else str(_default(value))
        table.add_row(name, Text(shown))
    wide = Console(soft_wrap=True, width=None if sys.stdout.isatty() else PIPE_WIDTH)
    wide.print(table)
