"""`trainer-sync`: the administrators' command line.

Each command group lives in its own module; this one wires them together and turns
every `TrainerSyncError` into a one-line message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from sync_rules.errors import TrainerSyncError
from trainer_sync.cli import emulator
from trainer_sync.cli.output import print_error

app = typer.Typer(
    name="trainer-sync",
    help="Sync trainers' platform calendars with their Exchange / Outlook calendars.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(emulator.app, name="emulator")


def main() -> None:
    """Console-script entry point."""
    try:
        app(standalone_mode=False)
    except TrainerSyncError as exc:
        print_error(exc)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print_error(TrainerSyncError("Aborted."))
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click's own usage errors carry their exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
