"""The resources a CLI command runs flows and connectors with."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def prefect_console(verbose: bool) -> Iterator[None]:
    """Keep Prefect's own console logging (run INFO lines, server start-up, warnings) out of a
    command's output unless `verbose`: the command prints what happened itself, once. Runs
    still send every log to the Prefect API, where the UI shows them."""
    if verbose:
        yield
        return
    from prefect.logging.handlers import PrefectConsoleHandler

    # Prefect sets its logging up lazily, on a run's first use of the API: the environment
    # sets the level of console handlers still to come; those already in place are set here.
    variable = "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"
    before = os.environ.get(variable)
    os.environ[variable] = "CRITICAL"
    quietened: list[tuple[logging.Handler, int]] = []
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler):
                quietened.append((handler, handler.level))
                handler.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for handler, level in quietened:
            handler.setLevel(level)
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before
