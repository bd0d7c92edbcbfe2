"""The per-provider run lock for the flows: a lease the run renews while it works.

The lease (`Resources.lock_lease`, 90 s by default) is renewed every third of itself by a
background thread, so a live run keeps its lock however long it takes, and a run that dies
(SIGKILL, a lost machine) frees its provider within one lease. Sooner, in two cases: its
process is gone from this host, or the Prefect API of this process knows its flow run has
ended (Crashed, Failed, Cancelled, Completed).
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from connectors.platform.locks import (
    HeldLock,
    LockHolder,
    acquire_provider_lock,
    break_provider_lock,
    read_provider_lock,
    release_provider_lock,
    renew_provider_lock,
)
from connectors.platform.models import utcnow
from tasks.resources import Resources

log = logging.getLogger("trainer_sync.locks")


def holder_for(flow_run_id: UUID | str | None) -> LockHolder:
    """This process as the holder of a run's lock (a local id outside Prefect)."""
    return LockHolder.this_process(str(flow_run_id) if flow_run_id else f"local-{uuid.uuid4()}")


def run_has_ended(lock: HeldLock) -> bool:
    """True when the Prefect API of this process knows the holder's flow run and it is over.

    Unknown runs (another, or an ephemeral, Prefect server) and an unreachable API say
    nothing: the lease decides then.
    """
    try:
        run_id = UUID(lock.holder.run)
    except ValueError:
        return False
    try:
        from prefect import get_client

        with get_client(sync_client=True) as client:
            state = client.read_flow_run(run_id).state
    except Exception:  # not found here, or no API: no evidence either way
        return False
    return state is not None and state.is_final()


def describe_lock(lock: HeldLock, provider: str) -> str:
    """Who holds a provider's lock, since when, and when it lapses unless renewed."""
    holder = lock.holder
    where = f" on {holder.host} (pid {holder.pid})" if holder.host else ""
    renewed = lock.renewed_at or lock.acquired_at
    return (
        f"{provider} is being synced by run {holder.run}{where}, since "
        f"{_clock(lock.acquired_at)} (last renewed {_clock(renewed)}); its lock expires at "
        f"{_clock(lock.expires_at)} unless that run renews it."
    )


@dataclass(frozen=True)
class Refusal:
    """Why a run could not take its provider's lock, in words for the log and the UI."""

    lock: HeldLock
    provider: str

    @property
    def message(self) -> str:
        return (
            f"{describe_lock(self.lock, self.provider)} This run did nothing. If that run has "
            "died, its lock frees itself by then, or take it over now with "
            f"`trainer-sync provider unlock {_quoted(self.provider)}`."
        )


def _clock(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def _quoted(name: str) -> str:
    return name if name.replace("-", "").replace("_", "").isalnum() else f'"{name}"'


@contextmanager
def provider_lock(
    resources: Resources, provider: str, provider_id: int, holder: LockHolder, skip: bool = False
) -> Iterator[Refusal | None]:
    """Hold the provider's lock for the block; yields None, or why it is held already.

    `skip` (dry runs, which write nothing) neither takes nor needs the lock.
    """
    if skip:
        yield None
        return
    url, lease = resources.database_url, resources.lock_lease
    held = acquire_provider_lock(url, provider_id, holder, lease, run_has_ended)
    if held is not None:
        yield Refusal(held, provider)
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            try:
                if not renew_provider_lock(url, provider_id, holder, lease):
                    log.error(
                        "The lock of %s was taken over by another run while this run held it.",
                        provider,
                    )
                    return
            except Exception:  # a blip of the store: try again at the next beat
                log.warning("Could not renew the lock of %s; retrying.", provider, exc_info=True)

    renewer = threading.Thread(target=renew, name=f"lock-{provider_id}", daemon=True)
    renewer.start()
    try:
        yield None
    finally:
        stop.set()
        renewer.join(timeout=5)
        release_provider_lock(url, provider_id, holder)


@dataclass(frozen=True)
class UnlockResult:
    """What `unlock_provider` did: `unlocked`, nothing (`not_locked`), or refused (`alive`)."""

    outcome: Literal["unlocked", "not_locked", "alive"]
    message: str


def unlock_provider(resources: Resources, provider: str, provider_id: int) -> UnlockResult:
    """Take a provider's lock away from its holder, unless the holder is demonstrably alive:
    its process runs on this host, its Prefect run is still running, or it renewed its lease
    within the last two renewal periods."""
    url, lease = resources.database_url, resources.lock_lease
    lock = read_provider_lock(url, provider_id)
    if lock is None:
        return UnlockResult("not_locked", f"{provider} is not locked: nothing to do.")

    renewed = lock.renewed_at or lock.acquired_at
    fresh = utcnow() - renewed < lease * 2 / 3
    gone = lock.expires_at <= utcnow() or lock.process_gone or run_has_ended(lock)
    if not gone and (fresh or _process_alive(lock)):
        return UnlockResult(
            "alive",
            f"{describe_lock(lock, provider)} That run is alive, so its lock stays: cancel it "
            "in the Prefect UI, or wait for it to finish.",
        )
    if not break_provider_lock(url, provider_id, lock.holder.run):
        return UnlockResult("not_locked", f"{provider} was unlocked meanwhile: nothing to do.")
    return UnlockResult(
        "unlocked", f"Unlocked {provider} (its lock was held by run {lock.holder.run})."
    )


def _process_alive(lock: HeldLock) -> bool:
    return lock.holder.host == socket.gethostname() and not lock.process_gone
