"""`trainer-sync db ...`: schema migrations."""

from __future__ import annotations

import typer

from connectors.platform import db as platform_db
from trainer_sync.cli.context import db_url, safe_url
from trainer_sync.cli.output import console

app = typer.Typer(help="Create or migrate the database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply the schema migrations."""
    url = db_url()
    platform_db.upgrade(url, revision)
    _print_revision(url)


@app.command("downgrade")
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Roll the schema back to an earlier revision."""
    url = db_url()
    platform_db.downgrade(url, revision)
    _print_revision(url)


def _print_revision(url: str) -> None:
    revision = platform_db.current_revision(url)
    where = f"at revision {revision}" if revision else "at base: it has no trainer-sync schema"
    console.print(f"Database {safe_url(url)} is {where}.")
