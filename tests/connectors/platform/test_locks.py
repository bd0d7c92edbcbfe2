"""The provider lock is a lease: one holder at a time, renewed while it runs, free again when
its holder is gone or its lease has lapsed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import update

from connectors.platform import configuration, db
from connectors.platform.locks import (
    LockHolder,
    acquire_provider_lock,
    read_provider_lock,
    release_provider_lock,
    renew_provider_lock,
)
from connectors.platform.models import SyncLock, utcnow

LEASE = timedelta(seconds=90)
ELSEWHERE = "another-host.example"


@pytest.fixture
def provider_id(db_url: str) -> int:
    with db.transaction(db_url) as s:
        return configuration.add_provider(s, "Acme", True).id


def _dead_pid() -> int:
    """The pid of a process of this host that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_one_holder_at_a_time_and_only_the_holder_releases(db_url: str, provider_id: int) -> None:
    first = LockHolder("run-1", ELSEWHERE, 101)
    second = LockHolder("run-2", ELSEWHERE, 102)
    assert acquire_provider_lock(db_url, provider_id, first, LEASE) is None
    held = acquire_provider_lock(db_url, provider_id, second, LEASE)
    assert held is not None and held.holder == first
    assert held.expires_at - held.acquired_at == LEASE
    release_provider_lock(db_url, provider_id, second)  # not its lock: nothing happens
    assert read_provider_lock(db_url, provider_id) is not None
    release_provider_lock(db_url, provider_id, first)
    assert acquire_provider_lock(db_url, provider_id, second, LEASE) is None


def test_renewing_pushes_the_lease_and_a_lapsed_lease_is_taken_over(
    db_url: str, provider_id: int
) -> None:
    crashed = LockHolder("run-crashed", ELSEWHERE, 101)
    assert acquire_provider_lock(db_url, provider_id, crashed, LEASE) is None
    before = read_provider_lock(db_url, provider_id)
    assert before is not None
    assert renew_provider_lock(db_url, provider_id, crashed, LEASE)
    after = read_provider_lock(db_url, provider_id)
    assert after is not None and after.expires_at >= before.expires_at
    assert after.renewed_at is not None

    # The holder stops renewing (killed on another machine); its lease lapses.
    with db.transaction(db_url) as s:
        s.execute(update(SyncLock).values(expires_at=utcnow() - timedelta(seconds=1)))
    taker = LockHolder("run-next", ELSEWHERE, 102)
    assert acquire_provider_lock(db_url, provider_id, taker, LEASE) is None
    assert not renew_provider_lock(db_url, provider_id, crashed, LEASE)  # it lost the lock


def test_a_holder_whose_process_is_gone_from_this_host_is_taken_over_at_once(
    db_url: str, provider_id: int
) -> None:
    dead = LockHolder("run-killed", socket.gethostname(), _dead_pid())
    assert acquire_provider_lock(db_url, provider_id, dead, LEASE) is None
    held = read_provider_lock(db_url, provider_id)
    assert held is not None and held.process_gone and held.expires_at > utcnow()
    me = LockHolder.this_process("run-me")
    assert acquire_provider_lock(db_url, provider_id, me, LEASE) is None


def test_a_live_process_or_a_live_run_keeps_its_lock(db_url: str, provider_id: int) -> None:
    alive = LockHolder("run-alive", socket.gethostname(), os.getppid())
    assert acquire_provider_lock(db_url, provider_id, alive, LEASE) is None
    other = LockHolder("run-other", socket.gethostname(), os.getpid())
    assert acquire_provider_lock(db_url, provider_id, other, LEASE) is not None
    # The orchestration knows the holder's run has ended (the Prefect API says so).
    ended = acquire_provider_lock(db_url, provider_id, other, LEASE, lambda lock: True)
    assert ended is None
