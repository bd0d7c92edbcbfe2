"""`trainer-sync serve` and `deploy`: the scheduled and manual syncs of the Prefect UI.

`serve` runs them from this process (one machine); `deploy` registers them in a work pool
whose workers run them (several machines, see docs/scaling.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from sqlalchemy.engine import make_url

from trainer_sync.cli.context import db_url, safe_url, store
from trainer_sync.cli.output import console

DATABASE_ENV = "TRAINER_SYNC_DATABASE_URL"


INTERVAL_OPTION = typer.Option(
    None,
    "--interval-minutes",
    help="Minutes between scheduled syncs of all providers "
    "(env: TRAINER_SYNC_INTERVAL_MINUTES; default: 15).",
    show_default=False,
)


def serve(interval_minutes: int | None = INTERVAL_OPTION) -> None:
    """Serve the sync deployments to the Prefect server of PREFECT_API_URL, until Ctrl+C.

    sync-all runs on its schedule, tamper-report weekly; the other deployments run when
    started from the Prefect UI.

    Stopping pauses the schedule; serving again resumes it.
    """
    from deployments.serve import (
        PROVIDER_NAME,
        SERVICE_NAME,
        TAMPER_NAME,
        TRAINER_NAME,
        api_url,
        cycle_name,
        resolve_interval,
        serve_deployments,
        ui_url,
    )

    minutes = resolve_interval(interval_minutes)
    url = _absolute(db_url())
    with store():  # refuses a database without the trainer-sync schema
        pass
    api = api_url()
    # Flow runs start in child processes: they must find the same store.
    os.environ[DATABASE_ENV] = url
    console.print(f"Prefect API: {api}", highlight=False)
    console.print(f"Prefect UI:  {ui_url() or api}", highlight=False)
    console.print(f"Platform store: {safe_url(url)}", highlight=False)
    console.print(
        f"Serving sync-all/{cycle_name(minutes)}, sync-provider/{PROVIDER_NAME}, "
        f"sync-trainer/{TRAINER_NAME}, verify-service/{SERVICE_NAME} and "
        f"tamper-report/{TAMPER_NAME}. Press Ctrl+C to stop.",
        highlight=False,
    )
    console.print(
        "Alerts: the 'trainer-sync: …' automations send to the channels of "
        "`trainer-sync alerts list`.",
        highlight=False,
    )
    serve_deployments(minutes)


def deploy(
    work_pool: str = typer.Option(..., "--work-pool", help="The Prefect work pool to run them."),
    interval_minutes: int | None = INTERVAL_OPTION,
    fan_out: bool = typer.Option(
        False, "--fan-out", help="Spread each cycle's providers over the pool's workers."
    ),
) -> None:
    """Register the sync deployments in a work pool of the Prefect server of PREFECT_API_URL.

    The pool's workers run them: `prefect worker start --pool <name>` on each machine.

    Each machine needs trainer-sync installed and TRAINER_SYNC_DATABASE_URL (the shared store).
    """
    from deployments.serve import api_url, apply_to_work_pool, resolve_interval, ui_url

    minutes = resolve_interval(interval_minutes)
    api_url()
    for name in apply_to_work_pool(work_pool, minutes, fan_out):
        console.print(f"Registered {name} in work pool {work_pool}.", highlight=False)
    console.print(
        f"sync-all runs every {minutes} min once a worker polls the pool: "
        f"prefect worker start --pool {work_pool}",
        highlight=False,
    )
    console.print(f"Prefect UI: {ui_url()}", highlight=False)


def _absolute(url: str) -> str:
    """A SQLite URL with an absolute path, so runs do not depend on their working directory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return url
    if parsed.database == ":memory:" or Path(parsed.database).is_absolute():
        return url
    return parsed.set(database=str(Path(parsed.database).resolve())).render_as_string(
        hide_password=False
    )
