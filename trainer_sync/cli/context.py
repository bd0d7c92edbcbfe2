"""The database the CLI works on, chosen once by the global `--database-url` option."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from connectors.platform.db import (
    check_database_url,
    current_revision,
    database_url,
    safe_url,
    transaction,
)
from sync_rules.errors import ConfigurationError

__all__ = ["db_url", "safe_url", "set_database_url", "store"]

_state: dict[str, str | None] = {"database_url": None}


def set_database_url(url: str | None) -> None:
    _state["database_url"] = url


def db_url() -> str:
    """The configured database's URL, refused with what to give instead when it cannot work
    (a missing SQLite directory, an unsupported or malformed URL)."""
    url = database_url(_state["database_url"])
    check_database_url(url)
    return url


@contextmanager
def store() -> Iterator[Session]:
    """One transaction on the configured database: all of a command's writes, or none."""
    url = db_url()
    if current_revision(url) is None:
        raise ConfigurationError(
            f"The database {safe_url(url)} has no trainer-sync schema yet.",
            "Run `trainer-sync db upgrade` first.",
        )
    with transaction(url) as session:
        yield session
