"""Alerts: Prefect automations on the project's events, sending to the channels ops configured.

`trainer-sync serve` and `deploy` create the automations (named `trainer-sync: …`) and keep
them as they should be each time they start; `trainer-sync alerts add/remove` configure the
channels (Prefect notification blocks named `trainer-sync-…`: the webhook URLs and keys live
in the blocks, never in the platform store) and update the automations' actions to match.
Without a channel the automations exist with no action, so the Automations page shows what
would be sent, and their firings are in the event feed.

A condition that persists (a provider whose runs keep failing, a service that stays broken)
is sent again at most every REPEAT_AFTER per provider, service or trainer, not every cycle;
a trainer's failures are sent once per streak, when it reaches the provider's
`alerts.failures_in_a_row` (see docs/operations.md §Alerts).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prefect import get_client
from prefect.events.actions import DoNothing, SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

from deployments.channels import Channel, list_channels
from tasks.events import (
    ALERT_LABEL,
    CLASH_FOUND,
    CREDENTIAL_EXPIRING,
    GUARD_HELD,
    PREFIX,
    SERVICE_VERIFICATION_FAILED,
    THROTTLED,
    TRAINER_FAILED,
)

#: Every automation of the project is named so, and only those are changed or removed.
NAME_PREFIX = f"{PREFIX}: "
#: How soon a condition that lasts is sent again for the same provider, service or trainer.
REPEAT_AFTER = timedelta(hours=6)
#: A credential's expiry is sent once a day until it is renewed.
EXPIRY_REPEAT_AFTER = timedelta(days=1)
#: The flows whose runs are a provider's sync.
PROVIDER_FLOWS = ["sync-provider", "sync-trainer"]

#: The text every notification of an event of ours ends with: where it comes from.
_ABOUT_EVENT = (
    "\n\nProvider: {{ event.resource.get('trainer-sync.provider') }}"
    "{% if event.resource.get('trainer-sync.trainer') %}"
    "\nTrainer: {{ event.resource.get('trainer-sync.trainer') }}{% endif %}"
    "{% if event.resource.get('trainer-sync.service') %}"
    "\nService: {{ event.resource.get('trainer-sync.service') }}{% endif %}"
    "\nRun: {{ flow_run.name }} {{ flow_run|ui_url or '' }}"
)


@dataclass(frozen=True)
class Alert:
    """One automation: when it fires and what it says."""

    title: str
    description: str
    trigger: EventTrigger
    subject: str
    body: str

    @property
    def name(self) -> str:
        return NAME_PREFIX + self.title


def _on_event(
    event: str, resource_kind: str, repeat_after: timedelta, *, crossing: bool = False
) -> EventTrigger:
    """A trigger on one of our events, per resource; with `crossing`, only events that cross
    their provider's alert threshold. Fires at once, then waits `repeat_after` per resource."""
    match: dict[str, str] = {"prefect.resource.id": f"{PREFIX}.{resource_kind}.*"}
    if crossing:
        match[ALERT_LABEL] = "true"
    return EventTrigger(
        expect={event},
        match=match,  # type: ignore[arg-type]  # pydantic validates the mapping
        for_each={"prefect.resource.id"},
        posture=Posture.Reactive,
        threshold=1,
        within=repeat_after,
    )


def _message_alert(title: str, description: str, trigger: EventTrigger) -> Alert:
    return Alert(
        title,
        description,
        trigger,
        subject=f"trainer-sync: {title} ({{{{ event.resource.get('trainer-sync.provider') }}}})",
        body="{{ event.payload.message }}" + _ABOUT_EVENT,
    )


def alert_definitions(interval_minutes: int) -> list[Alert]:
    """The project's automations, for a scheduled cycle every `interval_minutes`."""
    quiet_for = timedelta(minutes=2 * interval_minutes)
    return [
        Alert(
            "provider run failed",
            "A provider's sync run ended Failed or Crashed; sent again for the same provider "
            f"after {REPEAT_AFTER.total_seconds() / 3600:.0f} h if its runs keep failing.",
            EventTrigger(
                expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
                match={"prefect.resource.id": "prefect.flow-run.*"},
                match_related={
                    "prefect.resource.role": "flow",
                    "prefect.resource.name": PROVIDER_FLOWS,
                },
                for_each={"prefect.resource.name"},  # the run's name: sync-provider-<provider>
                posture=Posture.Reactive,
                threshold=1,
                within=REPEAT_AFTER,
            ),
            subject="trainer-sync: {{ flow_run.name }} {{ flow_run.state.name }}",
            body=(
                "{{ flow_run.state.message }}\n\n"
                "Provider: {{ flow_run.parameters.get('provider') }}\n"
                "Run: {{ flow_run.name }} {{ flow_run|ui_url or '' }}"
            ),
        ),
        _message_alert(
            "trainer failing",
            "A trainer failed as many runs in a row as its provider's alerts.failures_in_a_row "
            "(default 3); sent once per streak.",
            _on_event(TRAINER_FAILED, "trainer", REPEAT_AFTER, crossing=True),
        ),
        _message_alert(
            "mass deletion held",
            "The mass-deletion guard held a trainer's deletions: nothing of them is written "
            "until someone allows them.",
            _on_event(GUARD_HELD, "trainer", REPEAT_AFTER),
        ),
        _message_alert(
            "service failing verification",
            "A service's master account failed its check (credentials, endpoint, rights).",
            _on_event(SERVICE_VERIFICATION_FAILED, "service", REPEAT_AFTER),
        ),
        _message_alert(
            "exchange throttling",
            "Exchange asked one run to back off more often than its provider's "
            "alerts.throttled_over (default 20).",
            _on_event(THROTTLED, "provider", REPEAT_AFTER, crossing=True),
        ),
        _message_alert(
            "credential expiring",
            "A Graph service's client secret expires within 14 days (or has expired); sent "
            "once a day until it is renewed.",
            _on_event(CREDENTIAL_EXPIRING, "service", EXPIRY_REPEAT_AFTER),
        ),
        _message_alert(
            "clash with outlook",
            "A session was pushed onto time the trainer is busy in Outlook (first seen).",
            _on_event(CLASH_FOUND, "trainer", timedelta(0)),
        ),
        Alert(
            "no sync cycle",
            f"No scheduled sync-all cycle has finished for {quiet_for.total_seconds() / 60:.0f} "
            "minutes (two intervals).",
            EventTrigger(
                expect={"prefect.flow-run.Completed", "prefect.flow-run.Failed"},
                match={"prefect.resource.id": "prefect.flow-run.*"},
                match_related={
                    "prefect.resource.role": "flow",
                    "prefect.resource.name": "sync-all",
                },
                posture=Posture.Proactive,
                threshold=1,
                within=quiet_for,
            ),
            subject="trainer-sync: no sync cycle for two intervals",
            body=(
                f"No sync-all cycle has finished in the last {quiet_for.total_seconds() / 60:.0f} "
                f"minutes (it runs every {interval_minutes}). Check that `trainer-sync serve`, "
                "or the work pool's workers, are running, and look for Late or Cancelled "
                "sync-all runs in the Prefect UI."
            ),
        ),
    ]


def _actions(alert: Alert, channels: list[Channel]) -> list[Any]:
    if not channels:
        return [DoNothing()]
    return [
        SendNotification(
            block_document_id=c.block_document_id, subject=alert.subject, body=alert.body
        )
        for c in channels
    ]


def _automation(alert: Alert, channels: list[Channel]) -> AutomationCore:
    return AutomationCore(
        name=alert.name,
        description=alert.description,
        enabled=True,
        tags=[PREFIX],
        trigger=alert.trigger,
        actions=_actions(alert, channels),
    )


@dataclass(frozen=True)
class AutomationShown:
    """One of the project's automations as `alerts list` shows it."""

    name: str
    enabled: bool
    description: str
    sends_to: str


def list_automations() -> list[AutomationShown]:
    """The project's automations on the server, and the channels each sends to."""
    names = {c.block_document_id: c.name for c in list_channels()}
    shown = []
    with get_client(sync_client=True) as client:
        for found in client.read_automations():
            if not found.name.startswith(NAME_PREFIX):
                continue
            targets = [
                names.get(a.block_document_id, "a removed channel")
                for a in found.actions
                if isinstance(a, SendNotification)
            ]
            shown.append(
                AutomationShown(
                    found.name, found.enabled, found.description, ", ".join(targets) or "nothing"
                )
            )
    return sorted(shown, key=lambda a: a.name)


def current_interval() -> int | None:
    """The cycle interval the `no sync cycle` automation was made for, if it exists."""
    with get_client(sync_client=True) as client:
        for found in client.read_automations_by_name(NAME_PREFIX + "no sync cycle"):
            trigger = found.trigger
            if isinstance(trigger, EventTrigger) and trigger.within:
                return max(1, round(trigger.within.total_seconds() / 120))
    return None


def ensure_automations(interval_minutes: int) -> list[str]:
    """Create or update the project's automations, sending to every channel configured now,
    and remove those of the project that are no longer made. Returns their names."""
    channels = list_channels()
    wanted = {a.name: _automation(a, channels) for a in alert_definitions(interval_minutes)}
    with get_client(sync_client=True) as client:
        existing = [a for a in client.read_automations() if a.name.startswith(NAME_PREFIX)]
        seen: set[str] = set()
        for found in existing:
            automation = wanted.get(found.name)
            if automation is None or found.name in seen:  # retired, or a duplicate
                client.delete_automation(found.id)
                continue
            seen.add(found.name)
            client.update_automation(found.id, automation)
        for name, automation in wanted.items():
            if name not in seen:
                client.create_automation(automation)
    return list(wanted)
