"""Shared output helpers: rich tables for people, JSON for scripts, errors without tracebacks."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from sync_rules.errors import TrainerSyncError

PIPE_WIDTH = 200
# What the commands print is data (names, subjects, rules, messages), never markup: a
# "[subject]" or ":fire:" in it prints as it is.
console = Console(soft_wrap=True, markup=False, emoji=False)
error_console = Console(stderr=True, soft_wrap=True, emoji=False)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _cell(value: Any) -> Text:
    return Text("" if value is None else str(_default(value)))


def print_json(data: Any) -> None:
    """Print `data` as JSON on stdout, with dates in ISO 8601."""
    print(json.dumps(data, default=_default, indent=2))


def print_table(title: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Print rows as a rich table with the given columns.

    Cells are data (names, subjects, summaries), never markup: a subject such as
    "Fire Safety [half day]" prints as it is instead of losing "[half day]" as a style tag.
    """
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    # Piped output has no terminal width to respect: keep rows whole for grep and logs.
    wide = Console(soft_wrap=True, width=None if sys.stdout.isatty() else PIPE_WIDTH)
    wide.print(table)


def print_error(exc: TrainerSyncError) -> None:
    """Print an admin-facing error: what was wrong, then what to do."""
    error_console.print(f"[bold red]Error:[/] {escape(exc.message)}", highlight=False)
    if exc.hint:
        error_console.print(f"[yellow]What to do:[/] {escape(exc.hint)}", highlight=False)
