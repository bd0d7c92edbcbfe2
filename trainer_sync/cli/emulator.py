"""`trainer-sync emulator ...`: local stand-ins for Exchange (filled in by the emulator work)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run a local, loopback-only stand-in for Exchange.", no_args_is_help=True)
