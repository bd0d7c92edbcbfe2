"""A per-provider lock in the platform store, so two runs never sync one provider at once.

The lock is a lease: a row keyed by provider that exactly one holder can insert, with an
expiry the holding run pushes forward while it works (`renew_provider_lock`). A run that dies
stops renewing, so its lock lapses after one lease. A holder seen to be gone sooner is taken
over at once: a process of this host that no longer exists, or a run the caller knows has
ended (the orchestration asks the Prefect API). Works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from connectors.platform.db import transaction
from connectors.platform.models import SyncLock, utcnow


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or wants) a provider's lock: a run, on a host, in a process."""

    run: str  # the Prefect flow run id, or "local-<uuid>" outside Prefect
    host: str
    pid: int

    @classmethod
    def this_process(cls, run: str) -> LockHolder:
        return cls(run=run, host=socket.gethostname(), pid=os.getpid())


@dataclass(frozen=True)
class HeldLock:
    """A provider's lock as stored."""

    provider_id: int
    holder: LockHolder
    acquired_at: datetime
    renewed_at: datetime | None
    expires_at: datetime

    @property
    def process_gone(self) -> bool:
        """The holder ran on this host and its process no longer exists."""
        if self.holder.host != socket.gethostname() or not self.holder.pid:
            return False
        if self.holder.pid == os.getpid():
            return False
        try:
            os.kill(self.holder.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # it exists, under another user
            return False
        return False


def _held(lock: SyncLock) -> HeldLock:
    return HeldLock(
        provider_id=lock.provider_id,
        holder=LockHolder(lock.holder, lock.host or "", lock.pid or 0),
        acquired_at=lock.acquired_at,
        renewed_at=lock.renewed_at,
        expires_at=lock.expires_at,
    )


def read_provider_lock(url: str, provider_id: int) -> HeldLock | None:
    """The provider's lock, if anyone holds it."""
    with transaction(url) as session:
        lock = session.get(SyncLock, provider_id)
        return _held(lock) if lock else None


def acquire_provider_lock(
    url: str,
    provider_id: int,
    holder: LockHolder,
    lease: timedelta,
    holder_ended: Callable[[HeldLock], bool] = lambda _: False,
) -> HeldLock | None:
    """Take the provider's lock for `lease`; return None on success, else the lock held.

    A lapsed lock, or one whose holder is gone (`process_gone`, or `holder_ended` says its
    run is over), is taken over.
    """
    now = utcnow()
    held = read_provider_lock(url, provider_id)
    if held is not None and (held.expires_at <= now or held.process_gone or holder_ended(held)):
        # Only the lock as seen: if another run took it over meanwhile, its lock stays.
        with transaction(url) as session:
            session.execute(
                delete(SyncLock).where(
                    SyncLock.provider_id == provider_id,
                    SyncLock.holder == held.holder.run,
                    SyncLock.expires_at == held.expires_at,
                )
            )
    try:
        with transaction(url) as session:
            session.add(
                SyncLock(
                    provider_id=provider_id,
                    holder=holder.run,
                    host=holder.host,
                    pid=holder.pid,
                    acquired_at=now,
                    renewed_at=now,
                    expires_at=now + lease,
                )
            )
        return None
    except IntegrityError:
        held_now = read_provider_lock(url, provider_id)
        return held_now or HeldLock(provider_id, LockHolder("another run", "", 0), now, None, now)


def renew_provider_lock(url: str, provider_id: int, holder: LockHolder, lease: timedelta) -> bool:
    """Push the lease of a lock this holder holds; False when it no longer holds it."""
    now = utcnow()
    with transaction(url) as session:
        result = session.execute(
            update(SyncLock)
            .where(SyncLock.provider_id == provider_id, SyncLock.holder == holder.run)
            .values(renewed_at=now, expires_at=now + lease)
        )
        return bool(getattr(result, "rowcount", 0))


def release_provider_lock(url: str, provider_id: int, holder: LockHolder) -> None:
    with transaction(url) as session:
        session.execute(
            delete(SyncLock).where(
                SyncLock.provider_id == provider_id, SyncLock.holder == holder.run
            )
        )


def break_provider_lock(url: str, provider_id: int, holder_run: str) -> bool:
    """Remove the lock of `holder_run` (an administrator's take-over); False if not held."""
    with transaction(url) as session:
        result = session.execute(
            delete(SyncLock).where(
                SyncLock.provider_id == provider_id, SyncLock.holder == holder_run
            )
        )
        return bool(getattr(result, "rowcount", 0))
