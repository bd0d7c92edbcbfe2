"""`provider unlock` takes over the lock of a run that died, never that of a live one."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from connectors.platform import configuration, db
from connectors.platform.locks import LockHolder, acquire_provider_lock, read_provider_lock
from connectors.platform.models import SyncLock, utcnow
from tests.cli.conftest import Invoke

LEASE = timedelta(seconds=90)


def _acme(url: str) -> int:
    with db.transaction(url) as s:
        return configuration.get_provider(s, "Acme").id


def _lock(url: str, holder: LockHolder, renewed_ago: timedelta) -> None:
    """Acme locked by `holder`, whose last renewal was `renewed_ago`."""
    assert acquire_provider_lock(url, _acme(url), holder, LEASE) is None
    with db.transaction(url) as s:
        lock = s.get(SyncLock, _acme(url))
        assert lock is not None
        lock.renewed_at = utcnow() - renewed_ago


def test_an_unlocked_provider_needs_nothing(configured: Invoke) -> None:
    result = configured("provider", "unlock", "Acme")
    assert result.exit_code == 0 and "not locked" in result.stdout


def test_a_live_holder_keeps_its_lock(configured: Invoke, db_url: str) -> None:
    # A run on another machine that renewed its lease a moment ago is alive.
    _lock(db_url, LockHolder("run-elsewhere", "another-host.example", 4242), timedelta(seconds=5))
    result = configured("provider", "unlock", "Acme")
    assert result.exit_code == 2
    assert "run-elsewhere" in result.stderr and "alive" in result.stderr
    assert "Traceback" not in result.output
    assert read_provider_lock(db_url, _acme(db_url)) is not None


def test_a_holder_that_stopped_renewing_is_taken_over(configured: Invoke, db_url: str) -> None:
    # Killed on another machine a minute ago: its lease has not lapsed yet, but no one renews it.
    _lock(db_url, LockHolder("run-killed", "another-host.example", 4242), timedelta(seconds=75))
    result = configured("provider", "unlock", "Acme")
    assert result.exit_code == 0, result.output
    assert "Unlocked Acme" in result.stdout and "run-killed" in result.stdout
    assert read_provider_lock(db_url, _acme(db_url)) is None


def test_a_process_of_this_host_that_still_runs_keeps_its_lock(
    configured: Invoke, db_url: str
) -> None:
    alive = LockHolder("run-here", socket.gethostname(), os.getppid())
    _lock(db_url, alive, timedelta(seconds=80))
    assert configured("provider", "unlock", "Acme").exit_code == 2
