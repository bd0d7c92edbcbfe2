"""Secrets never reach logs, flow parameters, history or artifacts — even when sign-in fails."""

from __future__ import annotations

import base64
import logging

import pytest
from prefect.client.orchestration import get_client
from sqlalchemy import update

from connectors.platform import db
from connectors.platform.models import Service
from flows.sync import sync_provider
from tests.flows.conftest import World, tomorrow
from tests.flows.exchange_sides import SECRET_ENV


def test_no_secret_in_logs_history_or_run_data(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = world.trainer("ann", "out")
    world.event("First Aid", [tomorrow(9)], [ann])
    caplog.set_level(logging.DEBUG)
    assert sync_provider(provider="Acme", return_state=True).is_completed()
    monkeypatch.setenv(SECRET_ENV, "Wr0ng-S3cret-Value")
    world.resources.close()  # connect again, with the new secret
    with db.transaction(world.url) as s:  # make the run verify the service again
        s.execute(update(Service).values(last_verification_ok=False))
    failed = sync_provider(provider="Acme", return_state=True)
    assert failed.is_failed()

    secrets = (
        "master-pw",
        "Wr0ng-S3cret-Value",
        # Basic auth carries user:password in base64: that must not be logged either.
        base64.b64encode(b"master@acme.test:master-pw").decode(),
    )
    assert not any(secret in caplog.text for secret in secrets)
    with db.get_engine(world.url).connect() as c:
        for table in ("services", "sync_runs", "sync_changes", "trainer_cursors"):
            dump = repr(c.exec_driver_sql(f"SELECT * FROM {table}").all())
            assert not any(secret in dump for secret in secrets), table
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(failed.state_details.flow_run_id)
        logs = client.read_logs()
    assert not any(secret in repr(run.parameters) for secret in secrets)
    assert not any(secret in log.message for log in logs for secret in secrets)
