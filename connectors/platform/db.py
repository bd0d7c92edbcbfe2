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
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from sync_rules.errors import ConfigurationError

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


#: The stores trainer-sync runs on, as an administrator would write their URLs.
SUPPORTED_URLS = (
    "sqlite:///PATH (a file; sqlite:////absolute/path) or "
    "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
)
_WHERE_SET = f"--database-url or {DATABASE_URL_ENV}"


def database_url(override: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The database to use: an explicit URL, else $TRAINER_SYNC_DATABASE_URL, else SQLite."""
    env = os.environ if environ is None else environ
    return override or env.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def safe_url(url: str | URL) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"


def check_database_url(url: str) -> None:
    """Refuse, before anything connects or creates a file, a URL the store cannot work on.

    Raises a ConfigurationError saying what is wrong with the URL and what to give instead.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Echo it only when it cannot hold a password.
        shown = repr(url) if "@" not in url else "given"
        raise ConfigurationError(
            f"The database URL {shown} is not a database URL.",
            f"Give {SUPPORTED_URLS} ({_WHERE_SET}).",
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _check_sqlite_url(parsed)
    elif backend in ("postgres", "postgresql"):
        _check_postgresql_url(parsed)
    else:
        raise ConfigurationError(
            f"The database {safe_url(parsed)} is a {backend} database, which trainer-sync "
            "does not support: it stores its data in SQLite or PostgreSQL.",
            f"Give {SUPPORTED_URLS} ({_WHERE_SET}).",
        )


def _check_sqlite_url(url: URL) -> None:
    if url.get_driver_name() != "pysqlite":
        raise ConfigurationError(
            f"The SQLite driver {url.get_driver_name()!r} of {safe_url(url)} is not supported.",
            "Use Python's own: sqlite:///PATH.",
        )
    path = _sqlite_path(url)
    if path is None:
        return  # in memory
    if path.is_dir():
        raise ConfigurationError(
            f"The SQLite database {path} is a directory.",
            f"Name a file in it, e.g. sqlite:///{path / 'trainer_sync.db'}.",
        )
    if not path.parent.is_dir():
        raise ConfigurationError(
            f"The directory {path.parent} of the SQLite database {path} does not exist.",
            f"Create it (mkdir -p {path.parent}) or give another path ({_WHERE_SET}).",
        )


def _sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory database."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _check_postgresql_url(url: URL) -> None:
    if url.get_backend_name() == "postgres":
        raise ConfigurationError(
            f"{safe_url(url)} uses the scheme postgres://, which SQLAlchemy does not know.",
            "Write postgresql+psycopg:// instead of postgres:// (the rest of the URL stays).",
        )
    if url.drivername not in ("postgresql", "postgresql+psycopg"):
        raise ConfigurationError(
            f"The PostgreSQL driver {url.get_driver_name()!r} of {safe_url(url)} is not supported.",
            "Use psycopg 3: postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE.",
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "The PostgreSQL driver (psycopg) is not installed.",
            "Install the postgres extra: pip install 'trainer-sync[postgres]'.",
        ) from None


def check_connection(url: str) -> None:
    """Open (and close) a connection: a database that cannot be opened (refused, unknown role
    or database, not a database file) becomes a ConfigurationError naming it."""
    try:
        with get_engine(url).connect():
            pass
    except DBAPIError as exc:
        reason = " ".join(str(exc.orig).split()).rstrip(".?")
        raise ConfigurationError(
            f"Cannot open the database {safe_url(url)}: {reason}.",
            "Check the URL's user, password, host, port and database name "
            f"({_WHERE_SET}), and that the database server is running.",
        ) from None


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
    _migrate(command.upgrade, url, revision)


def downgrade(url: str, revision: str) -> None:
    """Roll migrations back to `revision` (`trainer-sync db downgrade`); `base` removes all."""
    _migrate(command.downgrade, url, revision)


_REVISION = re.compile(r"[A-Za-z0-9_+-]{1,64}")
_RELATIVE = re.compile(r"[+-][0-9]{1,6}")


def _migrate(step: Callable[[Config, str], None], url: str, revision: str) -> None:
    config = alembic_config(url)
    relative = revision.startswith(("+", "-"))
    # Only a revision's own characters reach alembic, whose parser asserts on others ("",
    # "@", "a@b@"...) rather than saying the revision is unknown.
    if not _REVISION.fullmatch(revision) or (relative and not _RELATIVE.fullmatch(revision)):
        raise _unknown_revision(revision, "that is not a revision name", config)
    # A named target is looked up before connecting: a typo creates no SQLite file.
    # Relative targets (+1, -1) only resolve against the store's own revision.
    if not relative:
        _refusing_unknown(revision, config, ScriptDirectory.from_config(config).get_revisions)
    check_connection(url)
    _refusing_unknown(revision, config, lambda target: step(config, target))


def _refusing_unknown(revision: str, config: Config, run: Callable[[str], object]) -> None:
    try:
        run(revision)
    except CommandError as exc:  # an unknown or unreachable revision: nothing was run
        raise _unknown_revision(revision, str(exc), config) from None


def _unknown_revision(revision: str, problem: str, config: Config) -> ConfigurationError:
    return ConfigurationError(
        f"Cannot migrate the database to revision {revision!r}: {problem}.",
        f"Give one of the known revisions: {known_revisions(config)}. `db upgrade` "
        "moves to a later revision, `db downgrade` to an earlier one.",
    )


def known_revisions(config: Config) -> str:
    """The revisions an administrator can name, oldest first, with what each one brought."""
    scripts = ScriptDirectory.from_config(config)
    listed = [
        f"{script.revision} ({(script.doc or '').strip().rstrip('.')})"
        for script in reversed(list(scripts.walk_revisions()))
    ]
    head = scripts.get_current_head()
    return ", ".join(listed) + f"; head is the latest ({head}), base an empty database"


def current_revision(url: str) -> str | None:
    """The store's schema revision; None for a store without one (a missing SQLite file is
    not created by asking)."""
    from alembic.runtime.migration import MigrationContext

    path = _sqlite_path(make_url(url)) if url.startswith("sqlite") else None
    if path is not None and not path.exists():
        return None
    check_connection(url)
    with get_engine(url).execution_options(**{_READ_ONLY: True}).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
