"""Shared fixtures: platform-store databases on SQLite, and on PostgreSQL when configured.

A migrated SQLite store is a copy of a template migrated once per session, not migrated
again for every test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy import make_url

from connectors.platform import db
from tests.stores import postgres_schema

POSTGRES_URL_ENV = "TRAINER_SYNC_TEST_POSTGRES_URL"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _backends() -> list:  # type: ignore[type-arg]
    backends = [pytest.param("sqlite", id="sqlite")]
    if os.environ.get(POSTGRES_URL_ENV):
        backends.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))
    return backends


def _checkpointed(url: str) -> None:
    """Close every connection: SQLite then folds the WAL into the file, the whole store."""
    db.get_engine(url).dispose()
    assert not Path(make_url(url).database or "").with_suffix(".db-wal").exists()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite store to copy."""
    path = tmp_path_factory.mktemp("template") / "platform.db"
    url = f"sqlite:///{path}"
    db.upgrade(url)
    _checkpointed(url)
    return path


def migrated_sqlite(template: Path, path: Path) -> str:
    """A migrated store at `path`, copied from the template; returns its URL."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def _postgres_schema() -> AbstractContextManager[str]:
    return postgres_schema(os.environ[POSTGRES_URL_ENV])


@pytest.fixture(params=_backends())
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a fresh SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'platform.db'}"
        yield url
        db.get_engine(url).dispose()
        return
    with _postgres_schema() as url:
        yield url


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty platform store."""
    if request.param == "sqlite":
        url = migrated_sqlite(request.getfixturevalue("sqlite_template"), tmp_path / "p.db")
        yield url
        db.get_engine(url).dispose()
        return
    with _postgres_schema() as url:
        db.upgrade(url)
        yield url


@pytest.fixture
def migrated_store(sqlite_template: Path, tmp_path: Path) -> Callable[[str], str]:
    """`migrated_store("name.db")`: the URL of a new migrated SQLite store in the test's folder."""
    return lambda name: migrated_sqlite(sqlite_template, tmp_path / name)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One Prefect test harness (a temporary API and database) for the whole test session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        default="0",
        metavar="N",
        help="Run the sync state machine for N random examples (long rounds) instead of the "
        "suite's few fixed ones.",
    )
