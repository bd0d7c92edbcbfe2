"""The store takes the run's own concurrency: several chunk tasks writing links at once while
others read, and a write arriving while a slow one holds the store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text

from connectors.platform import configuration, db
from connectors.platform.models import ItemLink, Provider
from connectors.platform.state import load_links, save_links

TRAINERS = 120
CHUNK = 15  # eight chunk tasks at once, as a provider run of 120 trainers has
LINKS = 8


def _trainers(url: str) -> list[int]:
    with db.transaction(url) as s:
        provider = configuration.add_provider(s, "Acme", True)
        trainers = [
            configuration.add_trainer(s, provider, f"T{i}", f"t{i}@acme.test")
            for i in range(TRAINERS)
        ]
        return [t.id for t in trainers]


def _links(trainer_id: int, version: int) -> list[dict[str, object]]:
    return [
        {
            "entry_key": f"session:{n}",
            "action": "create",
            "item_id": f"item-{trainer_id}-{n}-{version}",
            "change_key": f"ck-{version}",
            "content_hash": f"h{version}",
        }
        for n in range(LINKS)
    ]


def test_many_chunks_write_links_at_once_while_others_read(db_url: str) -> None:
    ids = _trainers(db_url)
    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    reading = threading.Event()

    def load_chunk(chunk: list[int]) -> int:
        # As load-exchange does: one transaction per trainer, each reading then writing.
        for version in (1, 2):
            for trainer_id in chunk:
                with db.transaction(db_url) as s:
                    save_links(s, trainer_id, _links(trainer_id, version))
        return len(chunk)

    def read_meanwhile() -> int:
        reads = 0
        while not reading.is_set():
            with db.snapshot(db_url) as s:  # as plan and extract-platform read
                reads += len(load_links(s, ids)) >= 0
        return reads

    with ThreadPoolExecutor(len(chunks) + 1) as pool:
        reader = pool.submit(read_meanwhile)
        written = sum(pool.map(load_chunk, chunks))
        reading.set()
        assert reader.result() > 0
    assert written == TRAINERS
    with db.transaction(db_url) as s:
        assert s.scalar(select(func.count()).select_from(ItemLink)) == TRAINERS * LINKS
        versions = set(s.scalars(select(ItemLink.change_key)))
    assert versions == {"ck-2"}


def test_a_write_waits_for_a_slow_writer_instead_of_failing(
    migrated_store: Callable[[str], str],
) -> None:
    """A write transaction held longer than SQLite's usual 5 s busy timeout (a big history
    write on a loaded machine) makes the next writer wait, not fail "database is locked"."""
    url = migrated_store("store.db")
    holding = threading.Event()

    def slow_writer() -> None:
        with db.transaction(url) as s:
            s.add(Provider(name="Slow"))
            s.flush()
            holding.set()
            time.sleep(5.5)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert holding.wait(10)
    with db.transaction(url) as s:
        s.add(Provider(name="Next"))
    writer.join()
    with db.transaction(url) as s:
        assert sorted(s.scalars(select(Provider.name))) == ["Next", "Slow"]
    db.get_engine(url).dispose()


def test_sqlite_store_journals_ahead_and_waits_long_enough(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with db.get_engine(url).connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 30_000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.get_engine(url).dispose()


@pytest.mark.parametrize("message", ["database is locked", "server closed the connection"])
def test_lost_or_locked_connections_are_worth_retrying_and_nothing_else(message: str) -> None:
    from sqlalchemy.exc import IntegrityError, OperationalError

    assert db.is_transient_database_error(OperationalError("INSERT", {}, Exception(message)))
    assert not db.is_transient_database_error(
        OperationalError("SELECT", {}, Exception("no such table: trainers"))
    )
    assert not db.is_transient_database_error(IntegrityError("INSERT", {}, Exception("UNIQUE")))
    assert not db.is_transient_database_error(ValueError(message))
