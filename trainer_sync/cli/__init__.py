"""`trainer-sync`: the administrators' command line.

Each command group lives in its own module; this one wires them together. Every
`TrainerSyncError` becomes a message saying what was wrong and what to do, with exit
code 2 — never a traceback.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

import typer
from typer.core import TyperGroup

from sync_rules.errors import ConfigurationError, TrainerSyncError
from trainer_sync.cli import (
    alerts,
    calendar,
    db,
    emulator,
    provider,
    report,
    serve,
    service,
    sync,
    trainer,
)
from trainer_sync.cli.context import set_database_url
from trainer_sync.cli.help import fix_typer_help
from trainer_sync.cli.output import print_error
from trainer_sync.cli.prefect_errors import prefect_start_error

fix_typer_help()


def _is_text(arg: str) -> bool:
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def not_utf8_argument(arg: str) -> ConfigurationError:
    """The error for a command-line value whose bytes are not UTF-8, showing them escaped."""
    bad = next(c for c in arg if "\ud800" <= c <= "\udfff")
    if "\udc80" <= bad <= "\udcff":  # a byte Python could not decode, kept as it came
        shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        what = f"the byte 0x{ord(bad) - 0xDC00:02X} cannot be read as UTF-8"
    else:  # half of a UTF-16 pair, from a program that built the command line as text
        shown = arg.encode("utf-8", "backslashreplace").decode("utf-8")
        what = f"U+{ord(bad):04X} is half of a UTF-16 surrogate pair"
    return ConfigurationError(
        f"The value '{shown}' on the command line is not UTF-8 text ({what}).",
        "Type it again in a terminal set to UTF-8 (for example LANG=C.UTF-8), or save "
        "the file or script that holds it as UTF-8.",
    )


class _AdminErrors(TyperGroup):
    """The root group: turns admin-facing errors into a clean message and exit code 2."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # Python hands over command-line bytes that are not UTF-8 as lone surrogates, which no
        # store, file or terminal takes: refuse them before anything reads them.
        for arg in args:
            if not _is_text(arg):
                print_error(not_utf8_argument(arg))
                raise typer.Exit(2)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TrainerSyncError as exc:
            print_error(exc)
            raise typer.Exit(2) from None
        except (RuntimeError, ValueError) as exc:
            error = prefect_start_error(exc)
            if error is None:
                raise
            print_error(error)
            raise typer.Exit(2) from None


app = typer.Typer(
    name="trainer-sync",
    cls=_AdminErrors,
    help="Sync trainers' platform calendars with their Exchange / Outlook calendars.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        # Parentheses, not brackets: the help is rich markup, where [...] is a style tag.
        help="SQLAlchemy URL of the platform store (else TRAINER_SYNC_DATABASE_URL, else "
        "sqlite:///trainer_sync.db): sqlite:///PATH or postgresql+psycopg://....",
    ),
) -> None:
    set_database_url(database_url)


app.add_typer(db.app, name="db")
app.add_typer(provider.app, name="provider")
app.add_typer(service.app, name="service")
app.add_typer(trainer.app, name="trainer")
app.add_typer(calendar.events_app, name="events")
app.add_typer(calendar.unavailability_app, name="unavailability")
app.command("calendar")(calendar.calendar)
app.command("sync")(sync.sync)
app.command("status")(sync.status)
app.command("history")(sync.history)
app.command("validate")(sync.validate)
app.command("serve")(serve.serve)
app.command("deploy")(serve.deploy)
app.add_typer(alerts.app, name="alerts")
app.add_typer(emulator.app, name="emulator")
app.add_typer(report.app, name="report")


def _stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # Python's default for SIGTERM ends the process on the spot: nothing it started (Prefect's
    # temporary API server, worker threads) is stopped and no lock is released. Unwind instead.
    raise SystemExit(128 + signum)


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    app()
