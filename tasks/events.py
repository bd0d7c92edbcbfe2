"""The project's own Prefect events: what happened to a trainer, a provider or a service.

Alerts (`deployments/alerts.py`) are Prefect automations on these events, and operators can
build their own in the UI: every event names its trainer, provider or service as its resource,
with the others as related resources, and carries the admin-facing `message` in its payload.

- `trainer-sync.trainer.failed` (trainer): a trainer failed a run; the label
  `trainer-sync.failures-in-a-row` counts its failed runs in a row.
- `trainer-sync.guard.held` (trainer): the mass-deletion guard held a trainer's deletions.
- `trainer-sync.clash.found` (trainer): a session was pushed onto time the trainer is busy in
  Outlook, seen for the first time.
- `trainer-sync.throttled` (provider): Exchange asked a run to back off; the label
  `trainer-sync.throttling` says whether it was beyond the alert threshold.
- `trainer-sync.service.verification-failed` (service): a master account failed its check.
- `trainer-sync.service.credential-expiring` (service): a Graph secret or certificate expires
  soon.

Events are sent from inside flow runs only (where they are related to the run, its flow and its
deployment); a cycle run without Prefect's orchestration sends none.
"""

from __future__ import annotations

import re
from typing import Any

from prefect.context import FlowRunContext
from prefect.events import emit_event

PREFIX = "trainer-sync"
TRAINER_FAILED = f"{PREFIX}.trainer.failed"
GUARD_HELD = f"{PREFIX}.guard.held"
CLASH_FOUND = f"{PREFIX}.clash.found"
THROTTLED = f"{PREFIX}.throttled"
SERVICE_VERIFICATION_FAILED = f"{PREFIX}.service.verification-failed"
CREDENTIAL_EXPIRING = f"{PREFIX}.service.credential-expiring"

#: Resource labels automations match on and notifications quote.
PROVIDER_LABEL = f"{PREFIX}.provider"
TRAINER_LABEL = f"{PREFIX}.trainer"
SERVICE_LABEL = f"{PREFIX}.service"
#: "true" on an event that crosses its provider's alert threshold (the automations send those).
ALERT_LABEL = f"{PREFIX}.alert"


def slug(name: str) -> str:
    """A name as a resource id part: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unnamed"


def provider_resource(provider: str, role: str | None = None) -> dict[str, str]:
    """A provider as an event's resource (or, with a role, as a related resource)."""
    resource = {
        "prefect.resource.id": f"{PREFIX}.provider.{slug(provider)}",
        "prefect.resource.name": provider,
        PROVIDER_LABEL: provider,
    }
    return {**resource, "prefect.resource.role": role} if role else resource


def trainer_resource(provider: str, trainer: str, **labels: str) -> dict[str, str]:
    """A trainer (by email) of a provider as an event's resource, with extra labels."""
    return {
        "prefect.resource.id": f"{PREFIX}.trainer.{slug(provider)}.{trainer.lower()}",
        "prefect.resource.name": trainer,
        PROVIDER_LABEL: provider,
        TRAINER_LABEL: trainer,
        **labels,
    }


def service_resource(provider: str, service: str) -> dict[str, str]:
    """A service (a master account) of a provider as an event's resource."""
    return {
        "prefect.resource.id": f"{PREFIX}.service.{slug(service)}",
        "prefect.resource.name": service,
        PROVIDER_LABEL: provider,
        SERVICE_LABEL: service,
    }


def emit(
    event: str,
    resource: dict[str, str],
    message: str,
    provider: str | None = None,
    **payload: Any,
) -> bool:
    """Send one event with `message` (what an admin reads) in its payload; related to the
    provider (unless the provider is the resource) and, by Prefect, to the current run.
    Returns whether it was sent: outside a flow run nothing is."""
    if FlowRunContext.get() is None:
        return False
    related = [provider_resource(provider, "provider")] if provider else []
    emit_event(event, resource=resource, related=related, payload={"message": message, **payload})
    return True
