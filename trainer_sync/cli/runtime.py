"""Preparing this process to run flows and connectors from the CLI."""

from __future__ import annotations

import os

from trainer_sync.cli.context import db_url, store


def prepare_engine() -> str:
    """Point tasks at the CLI's database and make `prefect-secret:` references resolvable.

    Returns the database URL. Fails with a clear message when the schema is missing.
    """
    url = db_url()
    with store():
        pass  # checks the schema exists
    os.environ["TRAINER_SYNC_DATABASE_URL"] = url
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from tasks.secrets import install_prefect_secret_resolver

    install_prefect_secret_resolver()
    return url
