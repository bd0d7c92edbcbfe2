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
    console.print(f"Database {safe_url(url)} is at revision {platform_db.current_revision(url)}.")


@app.command("downgrade")
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Roll the schema back to an earlier revision."""
    url = db_url()
    platform_db.downgrade(url, revision)
    console.print(f"Database {safe_url(url)} is at revision {platform_db.current_revision(url)}.")
