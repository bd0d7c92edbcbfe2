"""Small configuration reads for the flows."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from sqlalchemy import select

from connectors.exchange.config import ServiceConfig
from connectors.platform import configuration
from connectors.platform.models import Provider
from tasks.resources import Resources
from tasks.runtime import RETRY_IF_TRANSIENT


@task(
    name="list-enabled-providers",
    cache_policy=NO_CACHE,
    timeout_seconds=60,
    **RETRY_IF_TRANSIENT,
)
def enabled_providers(resources: Resources) -> list[str]:
    """Names of the providers whose sync engine is enabled."""
    with resources.snapshot() as session:
        query = select(Provider.name).where(Provider.sync_engine_enabled).order_by(Provider.name)
        return list(session.scalars(query))


@task(name="load-service", cache_policy=NO_CACHE, timeout_seconds=60)
def service_config_named(resources: Resources, name: str) -> ServiceConfig:
    """A stored service's connector configuration (a secret reference, never the secret)."""
    with resources.snapshot() as session:
        return configuration.service_config(configuration.get_service(session, name))


@task(name="run-provider-deployment", cache_policy=NO_CACHE)
def run_provider_deployment(deployment: str, provider: str, wait: timedelta) -> FlowRun:
    """Start `deployment` for one provider (on any worker of its pool) and wait for it.

    Returns the run, not its state: a state returned by a task would become the task's own.
    """
    run = run_deployment(
        deployment, parameters={"provider": provider}, timeout=wait.total_seconds()
    )
    return cast(FlowRun, run)  # awaitable only when called from async code
