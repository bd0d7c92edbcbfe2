"""The resources a CLI command runs flows and connectors with."""

from __future__ import annotations

import os

from tasks.resources import Resources, RunObserver
from trainer_sync.cli.context import db_url, store


def cli_resources(observer: RunObserver | None = None) -> Resources:
    """This process's resources, on the store of `--database-url` (or the environment).

    Fails with a clear message when the store has no schema yet.
    """
    url = db_url()
    with store():
        pass  # checks the schema exists
    # Prefect's anonymous usage report has no place in an administrator's command.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return Resources.from_environment(database_url_override=url, observer=observer)
