"""A failed trainer as a failed task run, so the run's task graph and the dashboard's counts
show the failure where it happened instead of an all-green run."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Failed

from sync_rules.text import plural

#: Failed trainers shown as a task run each; beyond this many (a service down fails all its
#: trainers), one more task run stands for the rest, so a bad cycle does not flood the UI.
FLAGGED_ONE_BY_ONE = 50


@task(
    name="trainer-failed",
    task_run_name="failed-{trainer}",
    cache_policy=NO_CACHE,
    persist_result=False,
)
def flag_failed_trainer(provider: str, trainer: str, error: str) -> State[Any]:
    """Stand for a trainer that failed this run: a Failed task run carrying its error (the
    per-trainer details are in the run's artifacts and history)."""
    return Failed(message=f"{trainer} ({provider}): {error}")


def failed_trainer_calls(
    provider: str, records: list[dict[str, Any]]
) -> list[tuple[str, str, str]]:
    """The `flag_failed_trainer` calls for a run's failed trainers: one each, up to
    FLAGGED_ONE_BY_ONE, then one for the rest."""
    failed = [r for r in records if r["status"] == "failed"]
    calls = [
        (provider, str(r["trainer"]), str(r["last_error"])) for r in failed[:FLAGGED_ONE_BY_ONE]
    ]
    rest = failed[FLAGGED_ONE_BY_ONE:]
    if rest:
        calls.append(
            (
                provider,
                f"and-{len(rest)}-more",
                f"{plural(len(rest), 'more trainer')} failed; see the run's artifacts.",
            )
        )
    return calls
