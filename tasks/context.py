"""The configuration one provider run works from, read once at its start.

Plain dataclasses, so the rest of the run never goes back to the configuration tables
and nothing secret is carried (services hold secret references only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from connectors.exchange.config import ServiceConfig
from connectors.platform import configuration
from connectors.platform.models import Trainer, TrainerLink
from connectors.platform.state import load_cursors
from sync_rules.errors import ConfigurationError, TrainerSyncError
from sync_rules.gate import READ_AHEAD, rules_fingerprint
from sync_rules.plan import window_bounds
from sync_rules.rules import Rules, load_rules
from tasks.resources import Resources
from tasks.runtime import RETRY_IF_TRANSIENT

#: A verified master account is re-verified this often; a failed one on every run.
VERIFY_EVERY = timedelta(hours=24)


@dataclass(frozen=True)
class TrainerInfo:
    """One linked trainer, with its change-gate and permission-check state."""

    trainer_id: int
    email: str
    name: str
    mailbox: str
    direction: str
    calendar_enabled: bool
    service: str
    exchange_cursor: str | None = None
    platform_fingerprint: str | None = None
    access_checked_at: datetime | None = None
    access_direction: str | None = None
    access_ok: bool | None = None
    read_valid_until: datetime | None = None


@dataclass(frozen=True)
class ProviderRun:
    """Everything a provider run needs to know about its provider."""

    provider_id: int
    provider: str
    rules: Rules
    rules_digest: str
    now: datetime
    services: dict[str, ServiceConfig]
    trainers: tuple[TrainerInfo, ...]
    dry_run: bool = False
    allow_mass_delete: bool = False
    #: Services whose last verification failed or is older than `VERIFY_EVERY`.
    services_to_verify: tuple[str, ...] = ()
    #: Stored services whose settings the connector refuses: name → what is wrong.
    broken_services: dict[str, str] = field(default_factory=dict)
    #: The run was asked for some trainers only (a rerun), not the whole provider.
    partial: bool = False

    @property
    def window(self) -> tuple[datetime, datetime]:
        start, end = window_bounds(self.rules, self.now)
        return start.to_pydatetime(), end.to_pydatetime()

    @property
    def read_span(self) -> tuple[datetime, datetime]:
        """What a mailbox read covers: the window and `READ_AHEAD` past it (sync_rules.gate)."""
        start, end = self.window
        return start, end + READ_AHEAD

    def trainers_frame(self, read_ids: set[int]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "trainer_id": [t.trainer_id for t in self.trainers],
                "direction": [t.direction for t in self.trainers],
                "calendar_enabled": [t.calendar_enabled for t in self.trainers],
                "mailbox": [t.mailbox for t in self.trainers],
                "exchange_read": [t.trainer_id in read_ids for t in self.trainers],
            }
        )


@task(
    name="load-provider",
    cache_policy=NO_CACHE,
    timeout_seconds=120,
    **RETRY_IF_TRANSIENT,
)
def load_provider(
    resources: Resources,
    provider: str,
    trainer_emails: list[str] | None,
    now: datetime,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
) -> ProviderRun:
    """Read the provider, its rules, services and linked trainers (optionally a subset)."""
    with resources.snapshot() as session:
        prov = configuration.get_provider(session, provider)
        rules = load_rules(overrides=prov.rules or None)
        query = (
            select(Trainer)
            .join(TrainerLink, TrainerLink.trainer_id == Trainer.id)
            .where(Trainer.provider_id == prov.id)
            .options(selectinload(Trainer.link).selectinload(TrainerLink.service))
            .order_by(Trainer.email)
        )
        linked = list(session.scalars(query))
        wanted = {e.strip().lower() for e in trainer_emails or []}
        if wanted:
            linked = [t for t in linked if t.email in wanted]
            missing = wanted - {t.email for t in linked}
            if missing:
                raise ConfigurationError(
                    f"Not a linked trainer of {provider!r}: {', '.join(sorted(missing))}.",
                    "Check the email, and link the trainer with `trainer-sync trainer link`.",
                )
        cursors = load_cursors(session, [t.id for t in linked])
        stored = {t.link.service.name: t.link.service for t in linked if t.link}
        services, broken = {}, {}
        for name, svc in stored.items():
            try:
                services[name] = configuration.service_config(svc)
            except TrainerSyncError as exc:  # its trainers fail with this; the others go on
                broken[name] = str(exc)
        to_verify = tuple(
            sorted(
                name
                for name, svc in stored.items()
                if name in services
                and not svc.last_verification_ok
                or svc.last_verified_at is None
                or now - svc.last_verified_at > VERIFY_EVERY
            )
        )
        trainers = []
        for t in linked:
            assert t.link is not None
            cursor = cursors.get(t.id)
            trainers.append(
                TrainerInfo(
                    trainer_id=t.id,
                    email=t.email,
                    name=t.name,
                    mailbox=t.link.mailbox,
                    direction=t.link.direction,
                    calendar_enabled=t.link.calendar_enabled,
                    service=t.link.service.name,
                    exchange_cursor=cursor.exchange_sync_state if cursor else None,
                    platform_fingerprint=cursor.platform_fingerprint if cursor else None,
                    access_checked_at=cursor.access_checked_at if cursor else None,
                    access_direction=cursor.access_direction if cursor else None,
                    access_ok=cursor.access_ok if cursor else None,
                    read_valid_until=cursor.read_valid_until if cursor else None,
                )
            )
        return ProviderRun(
            provider_id=prov.id,
            provider=prov.name,
            rules=rules,
            rules_digest=rules_fingerprint(rules),
            now=now,
            services=services,
            trainers=tuple(trainers),
            dry_run=dry_run,
            allow_mass_delete=allow_mass_delete,
            services_to_verify=to_verify,
            broken_services=broken,
            partial=bool(wanted),
        )
