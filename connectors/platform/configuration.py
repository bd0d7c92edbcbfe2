"""Configuration in the platform store: providers, services (master accounts), trainers, links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from connectors.exchange.config import STORED_FIELDS, ServiceConfig, mail_domain
from connectors.platform.models import (
    Provider,
    Service,
    Trainer,
    TrainerLink,
)
from connectors.platform.parsing import (
    check_direction,
    check_one_line,
    column_length,
    domain_of,
    normalise_email,
)
from connectors.platform.state import forget_connection, forget_mailbox
from sync_rules.errors import ConfigurationError


def same_name(column: InstrumentedAttribute[str], name: str) -> ColumnElement[bool]:
    """Names of providers and services are unique case-insensitively: `Acme` is `acme`."""
    return func.lower(column) == name.strip().lower()


def find_provider(session: Session, name: str) -> Provider | None:
    return session.scalar(select(Provider).where(same_name(Provider.name, name)))


def get_provider(session: Session, name: str) -> Provider:
    provider = find_provider(session, name)
    if provider is None:
        raise ConfigurationError(
            f"Unknown provider {name!r}.",
            "See `trainer-sync provider list`, or create it with `trainer-sync provider add`.",
        )
    return provider


def add_provider(session: Session, name: str, sync_engine_enabled: bool) -> Provider:
    name = name.strip()
    if not name:
        raise ConfigurationError("A provider needs a name.", "Give a non-empty NAME.")
    check_one_line(name, "name", column_length(Provider.name))
    check_provider_name_free(session, name)
    provider = Provider(name=name, sync_engine_enabled=sync_engine_enabled)
    session.add(provider)
    session.flush()
    return provider


def check_provider_name_free(session: Session, name: str) -> None:
    existing = find_provider(session, name)
    if existing is not None:
        spelled = "" if existing.name == name else f" (as {existing.name!r})"
        raise ConfigurationError(
            f"Provider {name!r} already exists{spelled}.",
            "Choose another name: provider names are unique whatever their case.",
        )


def list_providers(session: Session) -> list[Provider]:
    return list(session.scalars(select(Provider).order_by(Provider.name)))


def get_service(session: Session, name: str) -> Service:
    service = session.scalar(select(Service).where(same_name(Service.name, name)))
    if service is None:
        raise ConfigurationError(
            f"Unknown service {name!r}.",
            "See `trainer-sync service list`, or add it with `trainer-sync service add`.",
        )
    return service


def check_new_service(session: Session, provider: str, config: ServiceConfig) -> Provider:
    """Check that a service can be added to `provider` (its settings are checked by the model
    itself); return the provider. Nothing is written."""
    found = get_provider(session, provider)
    existing = session.scalar(select(Service).where(same_name(Service.name, config.name)))
    if existing is not None:
        spelled = "" if existing.name == config.name else f" (as {existing.name!r})"
        raise ConfigurationError(
            f"Service {config.name!r} already exists{spelled}.",
            # Services are named across providers: `trainer link --service` names one alone.
            "Choose another name: service names are unique across providers, whatever their case.",
        )
    return found


def add_service(session: Session, provider: str, config: ServiceConfig) -> Service:
    """Save a new service of `provider` (its secret reference only, never a secret)."""
    owner = check_new_service(session, provider, config)
    service = Service(provider_id=owner.id, **config.stored_fields())
    session.add(service)
    session.flush()
    return service


def service_config(service: Service) -> ServiceConfig:
    """The model of a stored service (a secret reference, never the secret)."""
    return ServiceConfig(**{name: getattr(service, name) for name in STORED_FIELDS})


def list_services(session: Session) -> list[Service]:
    return list(session.scalars(select(Service).order_by(Service.name)))


def find_trainer(session: Session, email: str, provider: Provider | str | None = None) -> Trainer:
    """The trainer with this email (within `provider`, a provider or its name, when given)."""
    email = normalise_email(email)
    if isinstance(provider, str):
        provider = get_provider(session, provider)
    query = select(Trainer).where(Trainer.email == email)
    if provider is not None:
        query = query.where(Trainer.provider_id == provider.id)
    trainers = list(session.scalars(query))
    if not trainers:
        where = f" in provider {provider.name!r}" if provider else ""
        raise ConfigurationError(
            f"Unknown trainer {email!r}{where}.",
            "See `trainer-sync trainer list`, or add it with `trainer-sync trainer add`.",
        )
    if len(trainers) > 1:
        names = ", ".join(sorted(repr(t.provider.name) for t in trainers))
        raise ConfigurationError(
            f"{email!r} is a trainer of several providers ({names}).",
            "Say which with --provider NAME.",
        )
    return trainers[0]


def add_trainer(session: Session, provider: Provider, name: str, email: str) -> Trainer:
    email = normalise_email(email)
    name = name.strip()
    if not name:
        raise ConfigurationError(f"Trainer {email!r} needs a name.", "Give --name.")
    check_one_line(name, "name", column_length(Trainer.name))
    duplicate = session.scalar(
        select(Trainer).where(Trainer.provider_id == provider.id, Trainer.email == email)
    )
    if duplicate is not None:
        raise ConfigurationError(
            f"Provider {provider.name!r} already has a trainer with email {email!r}.",
            "Each trainer's email is unique within a provider; change that trainer with "
            f"`trainer-sync trainer set {email} --provider {provider.name!r}` instead.",
        )
    trainer = Trainer(provider_id=provider.id, name=name, email=email)
    session.add(trainer)
    session.flush()
    return trainer


def check_same_domain(service: Service, mailbox: str) -> None:
    """The seed's rule: a trainer's mailbox is in the master account's domain."""
    master_domain = mail_domain(service.username)
    if master_domain and domain_of(mailbox) != master_domain:
        raise ConfigurationError(
            f"Mailbox {mailbox!r} is in domain {domain_of(mailbox)!r}, but the master account "
            f"{service.username!r} of service {service.name!r} is in domain {master_domain!r}.",
            "Use the trainer's mailbox in the master account's domain, "
            "or a service of the mailbox's domain.",
        )


def link_trainer(
    session: Session,
    service: Service,
    trainer: Trainer,
    direction: str,
    calendar_enabled: bool = True,
    mailbox: str | None = None,
) -> TrainerLink:
    """Create or replace a trainer's Exchange options."""
    direction = check_direction(direction)
    mailbox = normalise_email(mailbox or trainer.email, "mailbox")
    if service.provider_id != trainer.provider_id:
        raise ConfigurationError(
            f"Service {service.name!r} and trainer {trainer.email!r} "
            "belong to different providers.",
            "Link the trainer to a service of its own provider.",
        )
    check_same_domain(service, mailbox)
    previous = trainer.link
    if previous is not None and previous.mailbox != mailbox:
        forget_mailbox(session, trainer)
    elif previous is not None and previous.service_id != service.id:
        forget_connection(session, trainer)
    link = trainer.link or TrainerLink(trainer_id=trainer.id)
    link.service_id = service.id
    link.direction = direction
    link.calendar_enabled = calendar_enabled
    link.mailbox = mailbox
    trainer.link = link
    session.flush()
    return link


def unlink_trainer(session: Session, trainer: Trainer) -> None:
    if trainer.link is None:
        raise ConfigurationError(
            f"Trainer {trainer.email!r} is not linked.",
            "Nothing to do; see `trainer-sync trainer list`.",
        )
    trainer.link = None
    session.flush()


def list_trainers(session: Session, provider: Provider | None = None) -> list[Trainer]:
    query = select(Trainer).order_by(Trainer.provider_id, Trainer.email)
    if provider is not None:
        query = query.where(Trainer.provider_id == provider.id)
    return list(session.scalars(query))


def record_verification(
    session: Session, service: Service, ok: bool, message: str, at: datetime
) -> None:
    """Store the outcome of verifying a master account ("Save verifies")."""
    service.last_verified_at = at
    service.last_verification_ok = ok
    service.last_verification_message = message
    session.flush()
