"""What every task needs from its process: the database, connectors, retry rules, chunking.

Connectors are kept per service configuration for the life of the process: one flow run's
tasks share their connections. (Served and worker runs each start a new process; the change
gate's state lives in the database, so an idle cycle still costs one request per trainer.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError

from connectors.exchange import connect
from connectors.exchange.base import ExchangeConnector
from connectors.exchange.config import ServiceConfig
from connectors.exchange.errors import is_transient
from connectors.platform.db import database_url
from connectors.platform.models import Service

T = TypeVar("T")

#: Trainers handled by one extract/load task run: few enough task runs at thousands of
#: trainers (Prefect costs ~5–14 ms per task run), while each trainer keeps its own row in
#: the run's table artifact and its own sync_runs history.
TRAINERS_PER_TASK = 50

_connectors: dict[ServiceConfig, ExchangeConnector] = {}
_connectors_lock = threading.Lock()


def db_url() -> str:
    """The platform store of this process ($TRAINER_SYNC_DATABASE_URL or the default)."""
    return database_url()


def service_config(service: Service) -> ServiceConfig:
    """The connector's view of a stored service (a secret reference, never a secret)."""
    optional = {
        key: value
        for key, value in (
            ("authority_host", service.authority_host),
            ("ca_bundle", service.ca_bundle),
            ("server_version", service.server_version),
        )
        if value
    }
    return ServiceConfig(
        name=service.name,
        backend=service.backend,
        endpoint=service.endpoint,
        username=service.username,
        secret_ref=service.secret_ref,
        auth_type=service.auth_type,
        access_type=service.access_type,
        tenant_id=service.tenant_id,
        client_id=service.client_id,
        verify_tls=service.verify_tls,
        max_connections=service.max_connections,
        **optional,
    )


def connector_for(config: ServiceConfig) -> ExchangeConnector:
    """The process-wide connector of a service (created on first use)."""
    with _connectors_lock:
        connector = _connectors.get(config)
        if connector is None:
            connector = _connectors[config] = connect(config)
        return connector


def close_connectors() -> None:
    with _connectors_lock:
        for connector in _connectors.values():
            connector.close()
        _connectors.clear()


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry only what is worth another go — what the connector
    classes as transient, and a lost or locked database connection."""
    try:
        state.result()
    except OperationalError:
        return True
    except Exception as exc:  # the task's own exception, re-raised by the state
        return is_transient(exc)
    return False


def chunks(items: Sequence[T], size: int = TRAINERS_PER_TASK) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
