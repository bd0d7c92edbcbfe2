"""The Exchange connector: how the engine talks to trainers' Exchange calendars.

`connect(config)` resolves the service's secret and returns an `ExchangeConnector` for its
backend (EWS, or Microsoft Graph for Exchange Online). See `base` for the
contract, `errors` for the failure classes and `retry` for the throttling/back-off policy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from connectors.exchange.base import (
    AccessProblem,
    AccessResult,
    ActionResult,
    ChangeCheck,
    ExchangeAction,
    ExchangeConnector,
    ExchangeRow,
    VerificationResult,
    engine_writes_from,
)
from connectors.exchange.config import ServiceConfig, check_ca_bundle
from connectors.exchange.errors import is_transient
from connectors.exchange.retry import RetryPolicy
from connectors.secrets import SecretResolver, environment_resolver, resolve_secret
from sync_rules.errors import ConfigurationError


def connect(
    config: ServiceConfig,
    *,
    secrets: Mapping[str, SecretResolver] | None = None,
    retry_policy: RetryPolicy | None = None,
) -> ExchangeConnector:
    """A connector for the service's backend; the secret is resolved here and only here.

    `secrets` resolves the service's secret reference by scheme; without it only `env:`
    references resolve, from this process's environment.
    """
    check_ca_bundle(config)
    secret = resolve_secret(
        config.secret_ref,
        secrets or {"env": environment_resolver(os.environ)},
        owner=f"service {config.name!r}",
    )
    if config.backend == "ews":
        from connectors.exchange.ews import EwsConnector

        return EwsConnector(config, secret, retry_policy=retry_policy)
    if config.backend == "graph":
        from connectors.exchange.graph import GraphConnector

        return GraphConnector(config, secret, retry_policy=retry_policy)
    raise ConfigurationError(
        f"Exchange backend {config.backend!r} of service {config.name!r} is not available.",
        "Use backend 'ews' or 'graph'.",
    )


__all__ = [
    "AccessProblem",
    "AccessResult",
    "ActionResult",
    "ChangeCheck",
    "ExchangeAction",
    "ExchangeConnector",
    "ExchangeRow",
    "RetryPolicy",
    "ServiceConfig",
    "VerificationResult",
    "connect",
    "is_transient",
    "engine_writes_from",
]
