"""Changing and retiring configuration: providers, services and trainers after they were added.

Removals delete rows with SQL `DELETE` statements so the database's own cascades (every child
table refers to its owner with `ON DELETE CASCADE`) remove what belongs to the row, in the
caller's transaction: all of it, or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from connectors.exchange.config import ServiceConfig
from connectors.platform.configuration import (
    check_provider_name_free,
    check_same_domain,
    same_name,
)
from connectors.platform.models import (
    ItemLink,
    Provider,
    Service,
    Trainer,
    TrainerLink,
    Unavailability,
)
from connectors.platform.parsing import normalise_email
from connectors.platform.state import forget_mailbox, forget_sync_state
from sync_rules.errors import ConfigurationError


def rename_provider(session: Session, provider: Provider, new_name: str) -> None:
    new_name = new_name.strip()
    if not new_name:
        raise ConfigurationError("A provider needs a name.", "Give a non-empty NEW_NAME.")
    if new_name.lower() != provider.name.lower():
        check_provider_name_free(session, new_name)
    provider.name = new_name
    session.flush()


def check_timezone(name: str) -> str:
    try:
        return ZoneInfo(name).key
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"Unknown time zone {name!r}.",
            "Give an IANA time zone name, e.g. Europe/London or America/New_York.",
        ) from None


def set_timezone(provider: Provider, name: str) -> None:
    """The provider's zone, for both of its uses: where `calendar` shows its times, and where
    the sync rules begin whole days (the rules' `timezone`), so the two never disagree."""
    zone = check_timezone(name)
    provider.timezone = zone
    provider.rules = {**(provider.rules or {}), "timezone": zone}


def linked_trainers(session: Session, provider: Provider) -> list[Trainer]:
    query = (
        select(Trainer)
        .join(TrainerLink, TrainerLink.trainer_id == Trainer.id)
        .where(Trainer.provider_id == provider.id)
        .order_by(Trainer.email)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class ProviderRemoval:
    """What removing a provider deleted from the platform store."""

    trainers: int
    linked: int
    inbound_mirrors: int


#: What `provider remove --force` does to the mirrors on both sides; the refusal and the
#: command's help say exactly this.
FORCE_EFFECT = (
    "--force deletes the provider with its services, trainers, links, events, unavailability "
    "and sync history, including the platform's \"Unavailable\" mirrors of the trainers' own "
    "Outlook appointments; the items the engine put in the trainers' Outlook calendars are "
    "left there, untouched (nothing connects to Exchange)."
)


def remove_provider(session: Session, provider: Provider, force: bool) -> ProviderRemoval:
    """Delete a provider and everything that belongs to it; refused while trainers are linked,
    unless `force`."""
    linked = linked_trainers(session, provider)
    if linked and not force:
        shown = ", ".join(t.email for t in linked[:5]) + (", …" if len(linked) > 5 else "")
        raise ConfigurationError(
            f"Provider {provider.name!r} still has {len(linked)} linked trainer(s): {shown}.",
            "Unlink them first with `trainer-sync trainer unlink EMAIL --provider "
            f"{provider.name!r}`, or remove the provider anyway with `trainer-sync provider "
            f"remove {provider.name!r} --force`: {FORCE_EFFECT}",
        )
    trainer_ids = select(Trainer.id).where(Trainer.provider_id == provider.id)
    removal = ProviderRemoval(
        trainers=session.scalar(select(func.count()).select_from(trainer_ids.subquery())) or 0,
        linked=len(linked),
        inbound_mirrors=_count_inbound_mirrors(session, trainer_ids),
    )
    # Links refer to services without a cascade: remove them first, so no order of the
    # cascades can trip over them.
    session.execute(delete(TrainerLink).where(TrainerLink.trainer_id.in_(trainer_ids)))
    session.execute(delete(Provider).where(Provider.id == provider.id))
    session.expunge(provider)
    return removal


def _count_inbound_mirrors(session: Session, trainer_ids: object) -> int:
    query = select(func.count(Unavailability.id)).where(
        Unavailability.trainer_id.in_(trainer_ids),  # type: ignore[arg-type]
        Unavailability.origin == "exchange",
    )
    return session.scalar(query) or 0


def check_service_name_free(session: Session, name: str, service: Service) -> None:
    existing = session.scalar(
        select(Service).where(same_name(Service.name, name), Service.id != service.id)
    )
    if existing is not None:
        raise ConfigurationError(
            f"Service {name!r} already exists (as {existing.name!r}).",
            "Choose another name: service names are unique across providers, whatever their case.",
        )


def service_trainers(session: Session, service: Service) -> list[Trainer]:
    query = (
        select(Trainer)
        .join(TrainerLink, TrainerLink.trainer_id == Trainer.id)
        .where(TrainerLink.service_id == service.id)
        .order_by(Trainer.email)
    )
    return list(session.scalars(query))


def check_service_mailboxes(session: Session, service: Service, config: ServiceConfig) -> None:
    """Every trainer linked to the service keeps its mailbox in the master account's domain."""
    candidate = Service(username=config.username, name=config.name)
    for trainer in service_trainers(session, service):
        assert trainer.link is not None
        check_same_domain(candidate, trainer.link.mailbox)


def update_service(session: Session, service: Service, config: ServiceConfig) -> None:
    """Save new settings of a service (checked by the model already)."""
    check_service_mailboxes(session, service, config)
    connection_changed = any(
        getattr(service, field) != value
        for field, value in config.stored_fields().items()
        if field in ("endpoint", "username", "backend", "access_type")
    )
    for field, value in config.stored_fields().items():
        setattr(service, field, value)
    if connection_changed:
        # A mailbox's change-gate state belongs to the connection it was read through.
        forget_sync_state(session, [t.id for t in service_trainers(session, service)])
    session.flush()


def remove_service(session: Session, service: Service) -> None:
    linked = service_trainers(session, service)
    if linked:
        shown = ", ".join(t.email for t in linked[:5]) + (", …" if len(linked) > 5 else "")
        raise ConfigurationError(
            f"Service {service.name!r} still has {len(linked)} linked trainer(s): {shown}.",
            "Link them to another service with `trainer-sync trainer link EMAIL --service OTHER "
            "--direction DIR`, or unlink them with `trainer-sync trainer unlink EMAIL`, then "
            "remove the service.",
        )
    session.execute(delete(Service).where(Service.id == service.id))
    session.expunge(service)


def update_trainer(
    session: Session,
    trainer: Trainer,
    name: str | None = None,
    email: str | None = None,
    mailbox: str | None = None,
) -> None:
    """Change a trainer's name, email or (when linked) mailbox."""
    if name is not None:
        name = name.strip()
        if not name:
            raise ConfigurationError(f"Trainer {trainer.email!r} needs a name.", "Give --name.")
        trainer.name = name
    if email is not None:
        email = normalise_email(email)
        taken = session.scalar(
            select(Trainer).where(
                Trainer.provider_id == trainer.provider_id,
                Trainer.email == email,
                Trainer.id != trainer.id,
            )
        )
        if taken is not None:
            raise ConfigurationError(
                f"Provider {trainer.provider.name!r} already has a trainer with email {email!r}.",
                "Each trainer's email is unique within a provider; choose another.",
            )
        trainer.email = email
    if mailbox is not None:
        link = trainer.link
        if link is None:
            raise ConfigurationError(
                f"Trainer {trainer.email!r} is not linked, so it has no mailbox.",
                "Link it with `trainer-sync trainer link EMAIL --service NAME --direction DIR "
                "--mailbox ADDRESS`.",
            )
        mailbox = normalise_email(mailbox, "mailbox")
        check_same_domain(link.service, mailbox)
        if mailbox != link.mailbox:
            link.mailbox = mailbox
            forget_mailbox(session, trainer)
    session.flush()


def item_link_count(session: Session, trainer: Trainer) -> int:
    """How many items the engine keeps in the trainer's Outlook calendar."""
    query = select(func.count(ItemLink.id)).where(ItemLink.trainer_id == trainer.id)
    return session.scalar(query) or 0


def remove_trainer(session: Session, trainer: Trainer) -> None:
    """Delete an unlinked trainer with its assignments, unavailability and sync history."""
    if trainer.link is not None:
        raise ConfigurationError(
            f"Trainer {trainer.email!r} is linked to service {trainer.link.service.name!r}.",
            f"Unlink it first with `trainer-sync trainer unlink {trainer.email} --provider "
            f"{trainer.provider.name!r}`; the engine's items in its Outlook calendar stay there.",
        )
    session.execute(delete(Trainer).where(Trainer.id == trainer.id))
    session.expunge(trainer)
