"""Alembic environment: runs migrations on the engine handed over by `db.alembic_config`.

SQLite cannot alter most of a table in place, so its migrations run in batch mode: a new
table `_alembic_tmp_<name>` is filled from the old one, which is dropped and replaced. With
foreign keys enforced, dropping a table that others refer to (`services`, referred to by
`trainer_links`) fails, or would cascade, as soon as the store holds data. As Alembic and
SQLite's own "make other kinds of table schema changes" procedure say, SQLite migrations
therefore run with foreign keys off, and check every reference before they commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic import context
from sqlalchemy import Connection, Engine, text

from connectors.platform.models import Base
from sync_rules.errors import ConfigurationError

_BATCH_TABLE_PREFIX = "_alembic_tmp_"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    # The pragma is ignored inside a transaction, so it goes to the driver's connection
    # before SQLAlchemy begins one; the pooled connection gets enforcement back afterwards.
    driver: Any = connection.connection.driver_connection
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def _drop_leftover_batch_tables(connection: Connection) -> None:
    """A batch step that failed before this safeguard existed may have left its new table
    behind, and every later batch step on that table would fail on it: it holds nothing that
    the original table does not."""
    tables = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
    names: list[str] = list(tables.scalars().all())
    for name in names:
        if name.startswith(_BATCH_TABLE_PREFIX):
            connection.exec_driver_sql(f'DROP TABLE "{name}"')


def _check_references(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise ConfigurationError(
            "The migration would leave rows referring to rows that no longer exist "
            f"(in {', '.join(tables)}), so it was not applied.",
            "Nothing was changed. Remove or correct those rows, or migrate to another revision.",
        )


def _run_on_sqlite(engine: Engine) -> None:
    with (
        engine.connect() as connection,
        _sqlite_foreign_keys_off(connection),
        connection.begin(),
    ):
        _drop_leftover_batch_tables(connection)
        _run(connection)
        _check_references(connection)


engine = context.config.attributes["engine"]

if engine.dialect.name == "sqlite":
    _run_on_sqlite(engine)
else:
    with engine.begin() as connection:
        _run(connection)
