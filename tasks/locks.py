"""The per-provider run lock, as a context manager for the flows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from connectors.platform.locks import acquire_provider_lock, release_provider_lock
from tasks.runtime import db_url


@contextmanager
def provider_lock(
    provider_id: int, holder: str, ttl: timedelta, skip: bool = False
) -> Iterator[str | None]:
    """Hold the provider's lock for the block; yields None, or who holds it already.

    `skip` (dry runs, which write nothing) neither takes nor needs the lock.
    """
    if skip:
        yield None
        return
    url = db_url()
    other = acquire_provider_lock(url, provider_id, holder, ttl)
    if other is not None:
        yield other
        return
    try:
        yield None
    finally:
        release_provider_lock(url, provider_id, holder)
