"""The tamper-report flow: who overrides the platform in Outlook, per provider.

Orchestration only: the history is read and the artifacts are published by `tasks.tamper`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from flows.cycle import PrefectSteps
from sync_rules.errors import TrainerSyncError
from sync_rules.text import plural
from tasks.providers import enabled_providers
from tasks.resources import run_resources
from tasks.tamper import build_tamper_report, publish_tamper_report


@flow(name="tamper-report", persist_result=False)
def tamper_report(provider: str | None = None) -> State:
    """Publish, per provider, which trainers edited, moved or deleted pushed sessions in
    Outlook in the last 7 and 30 days: a table artifact `trainer-sync-<provider>-tamper`
    and its Markdown summary.

    Args:
        provider: Only this provider; by default every provider whose sync engine is enabled.
    """
    now = datetime.now(UTC)
    with run_resources() as resources:
        providers = [provider] if provider else enabled_providers(resources)
        offenders, steps = 0, PrefectSteps()
        for name in providers:
            try:
                report = steps.one(build_tamper_report, resources, name, now)
            except TrainerSyncError as exc:  # an unknown provider: say so, not a traceback
                return Failed(message=f"{exc.message} {exc.hint or ''}".strip())
            steps.one(publish_tamper_report, name, report)
            offenders += len(report)
    return Completed(
        message=f"{plural(offenders, 'trainer')} overrode the platform in Outlook "
        f"(of {plural(len(providers), 'provider')}) in the last 30 days."
    )


__all__ = ["tamper_report"]
