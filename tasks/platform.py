"""Platform-side tasks: extract the provider's calendar, apply inbound mirror changes."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.platform.calendar import extract_entries
from connectors.platform.state import apply_mirror_changes
from sync_rules.frames import PLATFORM_COLUMNS
from sync_rules.gate import platform_after, platform_fingerprints
from tasks.context import ProviderRun
from tasks.resources import Resources
from tasks.runtime import RETRY_IF_TRANSIENT


def _platform_frame(resources: Resources, run: ProviderRun) -> pd.DataFrame:
    start, end = run.window
    with resources.snapshot() as session:
        rows = extract_entries(session, run.provider_id, start, end)
    ids = {t.trainer_id for t in run.trainers}
    frame = pd.DataFrame(rows, columns=list(PLATFORM_COLUMNS))
    return frame[frame["trainer_id"].isin(ids)].reset_index(drop=True)


def fingerprints_of(run: ProviderRun, platform: pd.DataFrame) -> dict[int, str]:
    series = platform_fingerprints(platform, run.trainers_frame(set()), run.rules_digest)
    return {int(k): str(v) for k, v in series.items()}


@task(
    name="extract-platform",
    cache_policy=NO_CACHE,
    timeout_seconds=600,
    **RETRY_IF_TRANSIENT,
)
def extract_platform(resources: Resources, run: ProviderRun) -> tuple[pd.DataFrame, dict[int, str]]:
    """The provider's platform entries in the window (one extraction), and per-trainer
    fingerprints for the change gate."""
    frame = _platform_frame(resources, run)
    return frame, fingerprints_of(run, frame)


@task(
    name="load-platform",
    cache_policy=NO_CACHE,
    timeout_seconds=600,
    **RETRY_IF_TRANSIENT,
)
def load_platform(
    resources: Resources,
    run: ProviderRun,
    plan: pd.DataFrame,
    platform: pd.DataFrame,
    trainer_ids: list[int],
) -> dict[int, str]:
    """Apply the unheld platform-side actions of these trainers in one transaction.

    Returns the fingerprints of the platform as this run leaves it: the frame it read
    (`platform`) with its own writes applied, not the store as it is now. So the run's writes
    do not wake the next cycle, while an edit someone made during the run still does.
    """
    todo = plan[
        (plan["side"] == "platform")
        & ~plan["held"].astype(bool)
        & plan["trainer_id"].isin(trainer_ids)
    ]
    if not todo.empty:
        with resources.store() as session:
            for trainer_id, rows in todo.groupby("trainer_id"):
                apply_mirror_changes(session, int(trainer_id), rows.to_dict("records"))
    return fingerprints_of(run, platform_after(platform, todo))
