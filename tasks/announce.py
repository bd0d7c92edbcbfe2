"""What a provider run tells Prefect's event feed: failed and held trainers, throttling.

Each is a fact with the admin-facing message in its payload (tasks/events.py). An event that
crosses its provider's alert threshold (`alerts` in the rules) carries the label
`trainer-sync.alert: "true"`, and the project's automations send only those: the feed has
every fact, the channels only what needs someone.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Sequence
from typing import Any

from sync_rules.rules import AlertRules
from sync_rules.text import plural
from tasks.events import (
    ALERT_LABEL,
    GUARD_HELD,
    THROTTLED,
    TRAINER_FAILED,
    emit,
    provider_resource,
    trainer_resource,
)


def _flag(crossing: bool) -> str:
    return "true" if crossing else "false"


def announce_run(
    provider: str,
    records: Sequence[dict[str, Any]],
    alerts: AlertRules,
    back_offs: int,
    service_failures: Collection[str] = (),
) -> int:
    """Send the run's events; returns how many were sent (none outside a flow run).

    A trainer's failure is an alert when its streak reaches `failures_in_a_row` exactly, so a
    streak is announced once. Trainers failed by their service (`service_failures`, emails)
    are not: the service's own alert says it once for all of them.
    """
    sent = 0
    for record in records:
        trainer = str(record["trainer"])
        if record["status"] == "failed":
            streak = int(record["failures_in_a_row"])
            crossing = streak == alerts.failures_in_a_row and trainer not in service_failures
            since = f"failed {plural(streak, 'run')} in a row" if streak > 1 else "failed"
            message = (
                f"{trainer} ({provider}) {since}; last success {record['last_success']}. "
                f"{record['error']}"
            )
            resource = trainer_resource(
                provider,
                trainer,
                **{"trainer-sync.failures-in-a-row": str(streak), ALERT_LABEL: _flag(crossing)},
            )
            sent += emit(TRAINER_FAILED, resource, message, provider, error=record["error"])
        elif record["status"] == "held":
            held = int(record["exchange_held"]) + int(record["platform_held"])
            message = (
                f"The mass-deletion guard held {plural(held, 'deletion')} of {trainer} "
                f"({provider}); nothing of them was written. If they are intended, apply them "
                f"with: trainer-sync sync --provider {shlex.quote(provider)} "
                f"--trainer {shlex.quote(trainer)} --allow-mass-delete"
            )
            sent += emit(
                GUARD_HELD, trainer_resource(provider, trainer), message, provider, held=held
            )
    if back_offs:
        crossing = back_offs > alerts.throttled_over
        message = (
            f"Exchange asked the sync of {provider} to back off {plural(back_offs, 'time')} in one "
            f"run (alert above {alerts.throttled_over}). The run waited as asked; if this "
            "persists, lower the service's --max-connections or ask the Exchange admin to relax "
            "the master account's throttling policy."
        )
        resource = {**provider_resource(provider), ALERT_LABEL: _flag(crossing)}
        sent += emit(THROTTLED, resource, message, back_offs=back_offs)
    return sent
