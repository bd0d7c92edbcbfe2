"""The tamper report's tasks: read a provider's overrides from the history, publish them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from connectors.platform import configuration
from connectors.platform.state import overrides_since
from sync_rules.tamper import HISTORY_COLUMNS, PERIODS, report_rows, tamper_markdown, tamper_report
from tasks.history import artifact_key
from tasks.resources import Resources
from tasks.runtime import RETRY_IF_TRANSIENT


def tamper_key(provider: str) -> str:
    """The tamper table artifact's key: `trainer-sync-<provider-slug>-tamper`."""
    return f"{artifact_key(provider)}-tamper"


def provider_report(resources: Resources, provider: str | None, now: datetime) -> pd.DataFrame:
    """The tamper report of one provider's trainers (all providers' when None) up to `now`."""
    with resources.snapshot() as session:
        scope = configuration.get_provider(session, provider) if provider is not None else None
        rows = overrides_since(session, now - timedelta(days=max(PERIODS)), scope)
    return tamper_report(pd.DataFrame(rows, columns=list(HISTORY_COLUMNS)), now)


@task(
    name="build-tamper-report",
    task_run_name="build-tamper-report-{provider}",
    cache_policy=NO_CACHE,
    timeout_seconds=300,
    **RETRY_IF_TRANSIENT,
)
def build_tamper_report(resources: Resources, provider: str, now: datetime) -> pd.DataFrame:
    """Who of the provider's trainers edited, moved or deleted pushed sessions in Outlook in
    the last 7 and 30 days, worst first (sync_rules.tamper)."""
    return provider_report(resources, provider, now)


@task(
    name="publish-tamper-report",
    task_run_name="publish-tamper-report-{provider}",
    cache_policy=NO_CACHE,
    timeout_seconds=60,
)
def publish_tamper_report(provider: str, report: pd.DataFrame) -> None:
    """The report as a table artifact (every trainer in it) and a short Markdown summary that
    leads with the worst offenders; counts, times and names only, never a session's text."""
    key = tamper_key(provider)
    create_table_artifact(
        key=key,
        table=report_rows(report),
        description=(
            f"Trainers of {provider} who edited, moved or deleted pushed sessions in Outlook "
            "in the last 7 and 30 days, worst first."
        ),
    )
    create_markdown_artifact(key=f"{key}-summary", markdown=tamper_markdown(provider, report))
