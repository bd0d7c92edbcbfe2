"""Set-up and environment mistakes: each ends in what was wrong and what to do, exit code 2,
nothing written and no traceback.

Database URLs, migration targets, service settings and the small CLI edges run in this
process through typer's runner; the emulator's port and state file and a sync whose secret
is missing run the real `trainer-sync` command in a child process, as an administrator does.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from sqlalchemy import make_url
from typer.testing import CliRunner, Result

from connectors.exchange import connect
from connectors.exchange.config import ServiceConfig
from connectors.platform import db
from emulators.ews import EwsEmulator, run_ews_emulator
from tests.cli.conftest import Invoke, as_json, service_add
from tests.conftest import POSTGRES_URL_ENV
from trainer_sync.cli import app

TRAINER_SYNC = Path(sys.executable).with_name("trainer-sync")
PASSWORD_ENV = "ACME_EWS_PASSWORD"


def _refused(result: Result, *phrases: str) -> None:
    """Exit code 2, every phrase in the message, and no traceback anywhere."""
    assert result.exit_code == 2, result.output
    for phrase in phrases:
        assert phrase in result.output, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception


def _run(url: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["--database-url", url, *args])


# --- database URLs -------------------------------------------------------------------------


def _bad_urls(tmp: Path) -> list[tuple[str, str]]:
    """(URL, a phrase its refusal must hold)."""
    urls = [
        (f"sqlite:///{tmp / 'missing-dir' / 'store.db'}", "does not exist"),
        ("garbage", "postgresql+psycopg://"),
        ("postgres://postgres@127.0.0.1:5432/test", "postgresql+psycopg://"),
        ("mysql://user@localhost/platform", "SQLite or PostgreSQL"),
        ("postgresql+psycopg2://user@localhost/platform", "psycopg"),
    ]
    base = os.environ.get(POSTGRES_URL_ENV)
    if base:
        nobody = make_url(base).set(username="nobody", password=None)
        urls.append((nobody.render_as_string(hide_password=False), 'role "nobody"'))
    return urls


COMMANDS = [("db", "upgrade"), ("db", "downgrade", "base"), ("provider", "list"), ("status",)]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_unusable_database_urls_are_refused(tmp_path: Path, command: tuple[str, ...]) -> None:
    for url, phrase in _bad_urls(tmp_path):
        _refused(_run(url, *command), phrase)
    assert list(tmp_path.iterdir()) == []  # no directory, no database file


def test_the_environment_variable_is_checked_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(db.DATABASE_URL_ENV, "postgres://postgres@127.0.0.1/test")
    _refused(CliRunner().invoke(app, ["provider", "list"]), "postgresql+psycopg://")


def test_a_store_that_does_not_exist_is_not_created_by_a_list_command(tmp_path: Path) -> None:
    _refused(_run(f"sqlite:///{tmp_path / 'new.db'}", "provider", "list"), "db upgrade")
    assert list(tmp_path.iterdir()) == []


# --- migration targets -------------------------------------------------------------------------


def test_an_unknown_revision_lists_the_known_ones(tmp_path: Path, db_url: str) -> None:
    before = db.current_revision(db_url)
    _refused(_run(db_url, "db", "upgrade", "9999"), "'9999'", "0001", "head")
    _refused(_run(db_url, "db", "downgrade", "9999"), "'9999'", "0001", "head")
    for odd in ("", "@", "head@", "+x", "+1.5", "a b"):  # alembic's own parser asserts on these
        _refused(_run(db_url, "db", "upgrade", odd), f"{odd!r}", "not a revision name")
    assert db.current_revision(db_url) == before
    fresh = tmp_path / "fresh.db"
    _refused(_run(f"sqlite:///{fresh}", "db", "upgrade", "9999"), "head")
    assert not fresh.exists()


def test_downgrade_keeps_the_linked_trainer(configured: Invoke) -> None:
    """A downgrade past 0003 failed on the foreign key of the linked trainer (SQLite)."""
    for step in (("downgrade", "0002"), ("upgrade", "head")):
        result = configured("db", *step)
        assert result.exit_code == 0, result.output
    trainers = as_json(configured("trainer", "list", "--json"))
    assert isinstance(trainers, list)
    assert [t["email"] for t in trainers if t["service"]] == ["ann@acme.test"]
    downgraded = configured("db", "downgrade", "base")
    assert downgraded.exit_code == 0 and "no trainer-sync schema" in downgraded.stdout


# --- services ----------------------------------------------------------------------------------


def _no_services(cli: Invoke) -> None:
    assert as_json(cli("service", "list", "--json")) == []


@pytest.mark.parametrize(
    ("endpoint", "phrase"),
    [
        ("https://host:99999/EWS/Exchange.asmx", "invalid port '99999'"),
        ("https://host:0/EWS/Exchange.asmx", "port 0"),
        ("https://ho st/EWS/Exchange.asmx", "invalid host"),
        ("https:///EWS/Exchange.asmx", "has no host"),
        ("ftp://host/EWS/Exchange.asmx", "not an http(s) URL"),
    ],
)
def test_endpoints_are_checked_before_anything(cli: Invoke, endpoint: str, phrase: str) -> None:
    cli("provider", "add", "Acme")
    _refused(cli(*service_add(endpoint=endpoint)), phrase)
    _no_services(cli)


def test_a_failure_exchangelib_does_not_expect_dumps_nothing(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `service add` showed before endpoints were checked: requests refuses the URL and
    exchangelib logs the request's headers and SOAP body."""
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    valid = ServiceConfig(
        name="s",
        endpoint="https://host/EWS/Exchange.asmx",
        username="m@acme.test",
        secret_ref=f"env:{PASSWORD_ENV}",
    )
    unparseable = valid.model_construct(
        **{**valid.model_dump(), "endpoint": "https://host:99999/EWS/Exchange.asmx"}
    )
    result = connect(unparseable).verify_service()
    assert not result.ok and "host or port" in result.message
    out, err = capfd.readouterr()
    for dump in ("Request XML", "<?xml", "Envelope", "Traceback", "Request headers"):
        assert dump not in out + err


@pytest.fixture
def ews() -> Iterator[EwsEmulator]:
    with run_ews_emulator() as emulator:
        emulator.control.add_account("master@acme.test", "pw")
        emulator.control.add_account("ann@acme.test", "pw-ann")
        emulator.control.grant(owner="ann@acme.test", grantee="master@acme.test")
        yield emulator


@pytest.mark.parametrize("auth", ["ntlm", "basic"])
def test_a_windows_logon_is_verified_without_a_pinned_version(
    cli: Invoke, ews: EwsEmulator, monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    """It raised AttributeError: a request without an Account had no server version."""
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    cli("provider", "add", "Acme")
    args = service_add(
        endpoint=ews.url, username="ACME\\master", secret=f"env:{PASSWORD_ENV}", auth=auth
    )
    # The stand-in knows addresses only: it refuses the logon, and says so cleanly.
    _refused(cli(*args), "rejected the credentials of ACME\\master")
    assert "AttributeError" not in cli(*args).output
    _no_services(cli)


def test_a_windows_logon_is_accepted_where_it_can_sign_in(cli: Invoke) -> None:
    cli("provider", "add", "Acme")
    result = cli(*service_add(username="ACME\\master", auth="ntlm", no_verify=True))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("username", "options", "phrase"),
    [
        ("not-an-email", {}, "--username 'ACME\\master' --auth ntlm"),
        ("ACME\\master", {"auth": "oauth2"}, "Give the account's address"),
    ],
)
def test_usernames_that_cannot_sign_in_are_refused(
    cli: Invoke, username: str, options: dict[str, str], phrase: str
) -> None:
    cli("provider", "add", "Acme")
    extra = {"tenant": "t", "client_id": "c", "access": "impersonation"} if options else {}
    _refused(cli(*service_add(username=username, **options, **extra)), phrase)
    _no_services(cli)


def test_ca_bundles_are_checked_when_the_service_is_added(cli: Invoke, tmp_path: Path) -> None:
    cli("provider", "add", "Acme")
    not_pem = tmp_path / "notes.pem"
    not_pem.write_text("not a certificate\n")
    for bundle, phrase in (
        ("/nonexistent.pem", "no such file"),
        (str(not_pem), "no PEM certificate"),
        (str(tmp_path), "is a directory"),
    ):
        _refused(cli(*service_add(ca_bundle=bundle, no_verify=True)), bundle, phrase)
    _no_services(cli)


# --- small ones --------------------------------------------------------------------------------


def test_history_limit_must_be_positive(cli: Invoke) -> None:
    for limit in ("-5", "0"):
        _refused(cli("history", "--limit", limit), "--limit must be 1 or more")


def test_rules_print_as_yaml_a_person_writes_and_read_back(cli: Invoke, tmp_path: Path) -> None:
    cli("provider", "add", "Acme")
    shown = cli("provider", "rules", "Acme")
    assert shown.exit_code == 0
    assert "body: |" in shown.stdout and "\n\n" not in shown.stdout.strip()
    rules = tmp_path / "rules.yaml"
    rules.write_text(shown.stdout)
    assert cli("provider", "set-rules", "Acme", "--file", str(rules)).exit_code == 0
    again = cli("provider", "rules", "Acme")
    assert yaml.safe_load(again.stdout) == yaml.safe_load(shown.stdout)


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        (("sync",), "trainer-sync sync [OPTIONS]"),
        (("events", "import"), "trainer-sync events import [OPTIONS] PATH"),
        (("db", "upgrade"), "trainer-sync db upgrade [OPTIONS] [REVISION]"),
        (("provider", "add"), "trainer-sync provider add [OPTIONS] NAME"),
    ],
)
def test_help_shows_no_type_after_flags(command: tuple[str, ...], usage: str) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=100)
    assert result.exit_code == 0
    assert usage in result.stdout
    assert "<bool>" not in result.stdout and "{" not in result.stdout.split("\n\n")[0]


# --- the real command in a child process ------------------------------------------------------


def _child(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRAINER_SYNC), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def _refused_child(done: subprocess.CompletedProcess[str], *phrases: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    for phrase in phrases:
        assert phrase in output, output
    assert "Traceback" not in output


CORRUPT_STATES = {
    "not-json.json": "this is not JSON",
    "truncated.json": '{"accounts": {"master@acme.test": ',
    "wrong-shape.json": '["accounts"]',
    "wrong-fields.json": json.dumps({"accounts": 3, "grants": [], "apps": [{"x": 1}]}),
}


@contextmanager
def _port_in_use() -> Iterator[str]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield str(taken.getsockname()[1])


@pytest.mark.parametrize("emulator", ["ews", "graph"])
def test_emulator_ports_outside_the_range_and_in_use(emulator: str) -> None:
    runner = CliRunner()
    for port in ("70000", "-1"):
        result = runner.invoke(app, ["emulator", emulator, "--port", port])
        _refused(result, "not a TCP port", "65535")
    with _port_in_use() as port:
        _refused(runner.invoke(app, ["emulator", emulator, "--port", port]), "already in use")


@pytest.mark.parametrize("emulator", ["ews", "graph"])
def test_emulator_state_files_it_cannot_read_back(emulator: str, tmp_path: Path) -> None:
    for name, content in CORRUPT_STATES.items():
        state = tmp_path / name
        state.write_text(content)
        args = ["emulator", emulator, "--port", "0", "--state", str(state)]
        _refused(CliRunner().invoke(app, args), str(state), "Move it away")
        assert state.read_text() == content  # left as it was


def test_the_emulator_command_refuses_cleanly(tmp_path: Path) -> None:
    """The same refusals from the installed command, as an administrator meets them."""
    _refused_child(_child("emulator", "ews", "--port", "70000"), "not a TCP port")
    with _port_in_use() as port:
        _refused_child(_child("emulator", "graph", "--port", port), "already in use", "--port")
    state = tmp_path / "mailboxes.json"
    state.write_text(CORRUPT_STATES["truncated.json"])
    done = _child("emulator", "ews", "--port", "0", "--state", str(state))
    _refused_child(done, f"The state file {state}", "not JSON", "Move it away")
    assert state.read_text() == CORRUPT_STATES["truncated.json"]


def test_a_sync_whose_secret_is_not_set_fails_its_trainers_cleanly(
    migrated_store: Callable[[str], str],
    ews: EwsEmulator,
    prefect_api: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service verified with its password set; the sync then runs where it is not (its
    recent verification is not repeated, so the sync itself meets the missing secret).
    SQLite only: what is tested is the run, not the store."""
    from prefect.settings import PREFECT_API_URL

    db_url = migrated_store("secret.db")
    runner = CliRunner()

    def cli(*args: str) -> Result:
        return runner.invoke(app, ["--database-url", db_url, *args])

    monkeypatch.setenv(PASSWORD_ENV, "pw")
    secret = f"env:{PASSWORD_ENV}"
    for args in (
        ("provider", "add", "Acme", "--sync-engine"),
        service_add("live", endpoint=ews.url, username="master@acme.test", secret=secret),
        ("trainer", "add", "--provider", "Acme", "--name", "Ann", "--email", "ann@acme.test"),
        ("trainer", "link", "ann@acme.test", "--service", "live", "--direction", "out"),
    ):
        result = cli(*args)
        assert result.exit_code == 0, result.output

    env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    env.update({"PREFECT_API_URL": str(PREFECT_API_URL.value()), db.DATABASE_URL_ENV: db_url})
    done = _child("sync", "--provider", "Acme", env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output  # a failed trainer run, as any failed trainer
    assert "Traceback" not in output
    reason = f"The secret {secret} of service 'live' is missing"
    assert f"Error: {reason}" in done.stderr, output
    assert "1 trainer failed: ann@acme.test" in done.stderr
    assert f"export {PASSWORD_ENV}=" in done.stderr

    rows = as_json(cli("status", "--json"))
    assert isinstance(rows, list)
    (ann,) = rows
    assert ann["status"] == "failed" and reason in ann["error"]
    assert ews.control.items("ann@acme.test") == []  # nothing written


@pytest.mark.parametrize(
    ("wait", "phrases"),
    [
        # 0 s: Prefect gives up on its temporary server before asking it once, as a machine too
        # busy to start it within the wait does.
        ("0", ["temporary API server did not start in time", "PREFECT_API_URL="]),
        ("0.5", ["its setting startup_timeout_seconds", "'0.5'", "PREFECT_* environment"]),
    ],
    ids=["server-too-slow", "setting-of-the-wrong-kind"],
)
def test_prefect_that_cannot_start_is_reported_with_what_to_do(
    migrated_store: Callable[[str], str], wait: str, phrases: list[str], tmp_path: Path
) -> None:
    db_url = migrated_store("prefect.db")
    for args in (
        ("provider", "add", "Acme", "--sync-engine"),
        service_add("s", username="master@acme.test", no_verify=True),
    ):
        assert _run(db_url, *args).exit_code == 0
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        {
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": wait,
            db.DATABASE_URL_ENV: db_url,
        }
    )
    _refused_child(_child("sync", "--provider", "Acme", env=env), *phrases)


def test_numbers_beyond_what_the_store_counts(configured: Invoke) -> None:
    # Ids and counts are 64-bit in the store, on SQLite and PostgreSQL alike.
    huge = "99999999999999999999"
    _refused(configured("unavailability", "remove", huge), f"Unknown unavailability:{huge}")
    assert configured("history", "--limit", huge).exit_code == 0  # more than all is all


@pytest.mark.parametrize("minutes", ["0", "10081", "99999999999999999999"])
def test_a_schedule_interval_outside_a_week_is_refused(cli: Invoke, minutes: str) -> None:
    _refused(cli("serve", "--interval-minutes", minutes), "from 1 to 10080 (a week)")


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ("Caf\udce9", "'Caf\\xe9' on the command line is not UTF-8 text (the byte 0xE9"),
        ("x\ud800", "'x\\ud800' on the command line is not UTF-8 text (U+D800 is half"),
    ],
)
def test_text_that_is_not_utf8_is_refused_before_any_command(
    cli: Invoke, value: str, phrase: str
) -> None:
    _refused(cli("provider", "add", value), phrase)
    assert cli("provider", "list", "--json").stdout.strip() == "[]"


@pytest.mark.parametrize("run_id", ["last-tuesday", "", "<b>1</b>", "0f8c1d2e" * 40])
def test_history_of_a_run_takes_a_flow_run_id(cli: Invoke, run_id: str) -> None:
    _refused(cli("history", "--run", run_id), "--run takes a Prefect flow run id")


def test_history_of_a_run_reads_its_id_in_any_case(cli: Invoke) -> None:
    listed = cli("history", "--run", "0F8C1D2E-3B4A-4C5D-8E9F-A0B1C2D3E4F5", "--json")
    assert listed.exit_code == 0, listed.output
    assert as_json(listed) == []  # an id in capitals is the same run; this store has none
