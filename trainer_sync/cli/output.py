"""Shared output helpers: rich tables for people, JSON for scripts, errors without tracebacks.

Everything printed is data, never markup: names, courses and messages come from users and
files, and a course called "[/bold] broken" must show as itself. So the consoles parse
neither markup nor emoji codes, table cells and titles are `Text`, and the styling of
errors is applied to `Text` around the message, never written into it.
"""

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
console = Console(soft_wrap=True, markup=False, emoji=False)
error_console = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)


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
    """Print rows as a rich table with the given columns."""
    table = Table(title=Text(title))
    for column in columns:
        table.add_column(Text(column), overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    _print_wide(table)


def print_error(exc: TrainerSyncError) -> None:
    """Print an admin-facing error: what was wrong, then what to do."""
    error_console.print(Text.assemble(("Error:", "bold red"), " ", exc.message))
    if exc.hint:
        error_console.print(Text.assemble(("What to do:", "yellow"), " ", exc.hint))


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
        table.add_row(Text(name), Text(shown))
    _print_wide(table)


def _print_wide(table: Table) -> None:
    # Piped output has no terminal width to respect: keep rows whole for grep and logs.
    wide = Console(
        soft_wrap=True,
        width=None if sys.stdout.isatty() else PIPE_WIDTH,
        markup=False,
        emoji=False,
    )
    wide.print(table)
