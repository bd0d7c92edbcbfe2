"""Shared fixtures: platform-store databases on SQLite, and on PostgreSQL when configured.

A migrated SQLite store is a copy of a template migrated once per session, not migrated
again for every test.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy import make_url

from connectors.platform import db
from emulators.ews.schema import REPORT_ENV as EWS_REPORT_ENV
from emulators.ews.schema import SCHEMA_ENV as EWS_SCHEMA_ENV
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


# --- Microsoft's EWS schema over the whole suite ----------------------------------------------
# Every EWS emulator the suite starts (in a thread, in a subprocess, behind the demo or a
# benchmark) checks requests and responses against the schema found here, and appends each
# response that breaks it to one report file; the test whose traffic did that fails.
EWS_SCHEMA_DIR = Path(
    os.environ.get(EWS_SCHEMA_ENV, "")
    or Path(__file__).resolve().parents[1].parent / "shared" / "ews-schema"
)
EWS_SCHEMA_MISSING = (
    None
    if (EWS_SCHEMA_DIR / "messages.xsd").is_file()
    else f"Microsoft's EWS schema is not at {EWS_SCHEMA_DIR} (set {EWS_SCHEMA_ENV} to its "
    "folder): EWS requests and responses are not checked against it"
)


def pytest_report_header() -> str:
    return EWS_SCHEMA_MISSING or f"EWS schema: {EWS_SCHEMA_DIR} (every emulator checks it)"


def pytest_configure(config: pytest.Config) -> None:
    if EWS_SCHEMA_MISSING is not None:
        return
    os.environ[EWS_SCHEMA_ENV] = str(EWS_SCHEMA_DIR)
    # One report per pytest process; children of the process inherit it.
    report = Path(tempfile.mkdtemp(prefix="ews-schema-")) / "violations.jsonl"
    report.touch()
    os.environ[EWS_REPORT_ENV] = str(report)


@pytest.fixture(autouse=True)
def ews_responses_follow_the_schema() -> Iterator[None]:
    """Fail the test during which any emulator sent a response Exchange's schema refuses."""
    report = os.environ.get(EWS_REPORT_ENV)
    if not report:
        yield
        return
    start = Path(report).stat().st_size
    yield
    with open(report, encoding="utf-8") as lines:
        lines.seek(start)
        broken = [json.loads(line) for line in lines if line.strip()]
    responses = [v for v in broken if v["direction"] == "response"]
    if responses:
        shown = "\n".join(f"  {v['message']} (line {v['line']}): {v['problem']}" for v in responses)
        pytest.fail(f"{len(responses)} EWS response(s) do not validate:\n{shown}", pytrace=False)
