"""A per-provider lock in the platform store, so two runs never sync one provider at once.

Works the same on SQLite and PostgreSQL: the lock is a row keyed by provider; inserting it
succeeds for exactly one holder. A lock past its expiry (a crashed run) is taken over.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from connectors.platform.db import transaction
from connectors.platform.models import SyncLock, utcnow


def acquire_provider_lock(url: str, provider_id: int, holder: str, ttl: timedelta) -> str | None:
    """Take the provider's lock; return None on success, else who holds it."""
    now = utcnow()
    with transaction(url) as session:
        session.execute(
            delete(SyncLock).where(SyncLock.provider_id == provider_id, SyncLock.expires_at < now)
        )
    try:
        with transaction(url) as session:
            session.add(
                SyncLock(
                    provider_id=provider_id, holder=holder, acquired_at=now, expires_at=now + ttl
                )
            )
        return None
    except IntegrityError:
        with transaction(url) as session:
            lock = session.get(SyncLock, provider_id)
            return lock.holder if lock else "another run"


def release_provider_lock(url: str, provider_id: int, holder: str) -> None:
    with transaction(url) as session:
        session.execute(
            delete(SyncLock).where(SyncLock.provider_id == provider_id, SyncLock.holder == holder)
        )
