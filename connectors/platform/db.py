"""Engines, sessions and migrations of the platform store.

SQLite, the embedded default, must survive the run's own concurrency (several chunk tasks
saving links while another task reads or records history):

- WAL journal: readers never block the writer and the writer never blocks readers;
- a write transaction starts with `BEGIN IMMEDIATE`, so it takes the write lock up front and
  waits its turn (busy timeout) instead of failing half-way when it upgrades a read;
- read-only snapshots (`snapshot`) start with a plain `BEGIN` and never wait;
- a busy timeout of 30 s rather than Python's 5 s.
PostgreSQL needs none of this.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_DATABASE_URL = "sqlite:///trainer_sync.db"
DATABASE_URL_ENV = "TRAINER_SYNC_DATABASE_URL"
MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_S = 30.0
#: Marks an engine (execution option) whose transactions only read.
_READ_ONLY = "trainer_sync_read_only"

#: Driver messages of failures that pass by themselves: a lock held a moment too long, a
#: connection dropped or refused. Anything else (a missing table, a constraint) is permanent.
_TRANSIENT_MESSAGES = (
    "database is locked",
    "database table is locked",
    "could not connect",
    "connection refused",
    "server closed the connection",
    "connection reset",
    "terminating connection",
    "timeout expired",
)


def database_url(override: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The database to use: an explicit URL, else $TRAINER_SYNC_DATABASE_URL, else SQLite."""
    env = os.environ if environ is None else environ
    return override or env.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is off (BEGIN is emitted in `_on_sqlite_begin`).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    read_only = connection.get_execution_options().get(_READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@lru_cache(maxsize=16)
def get_engine(url: str) -> Engine:
    """One engine per URL per process (engines own connection pools)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def transaction(url: str) -> Iterator[Session]:
    """A session whose work commits as one transaction, or rolls back entirely on error."""
    with session_factory(url)() as session, session.begin():
        yield session


@contextmanager
def snapshot(url: str) -> Iterator[Session]:
    """A read-only session over one consistent snapshot; it never waits for a writer."""
    engine = get_engine(url).execution_options(**{_READ_ONLY: True})
    with Session(bind=engine, expire_on_commit=False) as session, session.begin():
        yield session


def is_transient_database_error(exc: BaseException) -> bool:
    """True for a store failure worth retrying: a dropped connection or a lock held too long."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    text = str(exc.orig).lower()
    return any(message in text for message in _TRANSIENT_MESSAGES)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = get_engine(url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (`trainer-sync db upgrade`)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).execution_options(**{_READ_ONLY: True}).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
