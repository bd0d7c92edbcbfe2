"""Every command, with hostile values for every argument and option: an answer, never a traceback.

The commands are read from the typer app itself, so a command added tomorrow is covered the day
it lands. For each, hypothesis draws a value for every argument and for a random choice of its
options: well-formed values naming what the store holds, and hostile ones (empty, very long,
bytes that are not UTF-8, markup brackets, control characters, negative and huge numbers,
malformed URLs, emails and dates, files in the wrong encoding, missing files and directories).
Whatever it draws, the command either does what it says (exit 0), or refuses with a message
(exit 2) and leaves the store as it was, compared as a full SQL dump. `sync` and `validate`
also exit 1 when a trainer or a check failed, as the README says.

Bytes that are not UTF-8 reach a command as Python hands them over from the command line:
decoded with surrogate escapes (`\\udcff` for the byte 0xff).

The store is SQLite; refusing is the same code on PostgreSQL, whose own refusals (URLs, roles,
downgrades) are tested in test_setup_errors.py. Three boundaries are not crossed here, each
covered by its own tests: a sync's flow run (tests/flows), an emulator serving requests after it
is listening (tests/emulators: here it stops as on Ctrl+C), and deployments registered on a
Prefect server (tests/deployments). A command reaching one has accepted its input.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from connectors.platform import configuration, db
from connectors.platform.models import SyncChange, SyncRun, TrainerClash
from tests.cli.conftest import EWS_URL, service_add
from tests.conftest import migrated_sqlite
from trainer_sync.cli import app

# A port nothing listens on: a sign-in there is refused at once, as an unreachable server is.
CLOSED_ENDPOINT = "https://127.0.0.1:9/EWS/Exchange.asmx"
EVENTS_CSV = (
    "event_ref,course,venue,venue_address,status,session_start,session_end,trainer_emails,"
    "event_url,delegate_instructions_url,trainer_instructions_url\n"
    "E1,First Aid,Leeds,1 Park Row,scheduled,2026-03-02T09:00:00+00:00,"
    "2026-03-02T17:00:00+00:00,ann@acme.test,https://lms.test/e/1,https://lms.test/d/1,"
    "https://lms.test/t/1\n"
)
TRAINERS_CSV = (
    "provider,name,email,service,direction,calendar\nAcme,Cat,cat@acme.test,acme-ews,in,true\n"
)

# What the store holds, so that drawn commands get past "not found" and into their own checks.
KNOWN = [
    "Acme", "acme", "Beta", "acme-ews", "beta-ews", "Ann", "ann@acme.test", "ANN@acme.test",
    "bob@acme.test", "E1", "1", "2", "out", "in", "both", "owner", "delegate", "impersonation",
    "basic", "ntlm", "oauth", "ews", "graph", "Europe/London", "env:ACME_EWS_PASSWORD",
    "prefect-secret:trainer-sync-acme-ews", CLOSED_ENDPOINT, "master@acme.test", "Exchange2016",
    "2026-03-02", "2026-03-02T09:00:00+00:00", "2026-03-02T17:00:00+00:00", "base", "head",
    "0005", "15",
]  # fmt: skip
HOSTILE = [
    "", " ", "x" * 5_000, "[bold]x[/bold]", "[/]", "[link=https://evil.test]click[/link]",
    "\x1b[31mred", "a\r\nb", "tab\there", "\x07\x08\x7f", "\udcff\udcfe", "caf\udce9",
    "\ufeffAcme", "\u202eevil", "😀" * 300, "-", "--", "-1", "-99999999999999999999",
    "99999999999999999999", "1e309", "nan", "0", "0x10", "%s%n{0}", "'; DROP TABLE trainers; --",
    "../../../etc/passwd", "Acme\n", " Acme", "ACME",
]  # fmt: skip
URLS = [
    "http://", "https://", "https://host:99999/EWS/Exchange.asmx", "https://127.0.0.1:0/x",
    "ftp://mail.acme.test/EWS", "javascript:alert(1)", "://", "http://[::1", "https://a b/",
    "https://\udcff/", "mail.acme.test", "https://127.0.0.1:9", "https://user:pw@127.0.0.1:9/x",
]  # fmt: skip
EMAILS = ["@", "a@", "@acme.test", "a@@acme.test", "a@b@c", "<ann@acme.test>", "ann@acme.test\n"]
DATES = [
    "2026-13-45", "2026-02-30", "2026-03-02T25:61:00+00:00", "2026-03-02T09:00", "yesterday",
    "0000-01-01", "9999-12-31T23:59:59+14:00", "2026-03-02T09:00:00+99:00", "20260302",
]  # fmt: skip
NUMBERS = ["-1", "0", "70000", "2147483648", "99999999999999999999999", "1.5", "inf", "-0", "٣"]
SECRET_INPUT = [
    b"",
    b"\n",
    b"pw\n",
    b"x" * 100_000,
    b"\x00\x01",
    b"\xff\xfe pw",
]  # bytes, as stdin is

# Options by the kind of value they take; any other takes generic text.
URL_OPTIONS = {"endpoint", "authority_host"}
EMAIL_OPTIONS = {"email", "new_email", "trainer", "mailbox", "username"}
DATE_OPTIONS = {"from_", "to", "start", "end"}
PATH_OPTIONS = {"path", "file", "ca_bundle", "state", "schema"}

# Any text at all, lone surrogates (undecodable bytes) included; argv cannot hold NUL.
ANY_TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=()), max_size=40)


class ReachedBoundary(BaseException):
    """A command got past its checks to a run this test does not start (see the docstring).

    A BaseException, so that nothing on the way can take it for a failure of the command."""


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    params: tuple[Any, ...]

    def __str__(self) -> str:
        return " ".join(self.path)


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[Command]:
    for name, command in sorted(group.commands.items()):
        if getattr(command, "commands", None) is not None:
            yield from _commands(command, (*path, name))
        else:
            yield Command((*path, name), tuple(command.params))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_commands_are_all_found() -> None:
    # Guards the enumeration itself: a typer change that hid the commands would pass vacuously.
    names = {str(c) for c in COMMANDS}
    assert {
        "sync",
        "provider add",
        "service set",
        "unavailability remove",
        "emulator ews",
        "report clashes",
        "report tamper",
    } <= names
    assert len(COMMANDS) >= 40


def test_bytes_that_are_not_utf8_are_refused_as_a_terminal_sends_them(tmp_path: Path) -> None:
    # The path hypothesis models above, taken for real: bytes on a real command line.
    command = Path(sys.executable).with_name("trainer-sync")
    url = f"sqlite:///{tmp_path / 'p.db'}".encode()
    result = subprocess.run(
        [command, b"--database-url", url, b"provider", b"add", b"Caf\xe9"],
        capture_output=True,
        env={**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert b"'Caf\\xe9' on the command line is not UTF-8" in result.stderr
    assert b"Traceback" not in result.stderr
    assert not (tmp_path / "p.db").exists()


def _values(param: Any, files: Path) -> st.SearchStrategy[str]:
    """Values for one argument or option: well-formed, hostile in general, hostile in kind."""
    kinds = [st.sampled_from(KNOWN), st.sampled_from(HOSTILE), ANY_TEXT]
    if param.name in URL_OPTIONS:
        kinds.append(st.sampled_from(URLS))
    if param.name in EMAIL_OPTIONS:
        kinds.append(st.sampled_from(EMAILS))
    if param.name in DATE_OPTIONS:
        kinds.append(st.sampled_from(DATES))
    if param.name in PATH_OPTIONS:
        kinds.append(st.sampled_from(sorted(str(p) for p in files.iterdir())))
        kinds.append(st.sampled_from([str(files / "missing.csv"), str(files / "no" / "dir.csv")]))
    if param.type_descriptor.annotation in (int, float, int | None, float | None):
        kinds.append(st.sampled_from(NUMBERS))
    return st.one_of(kinds)


@st.composite
def _argv(draw: st.DrawFn, command: Command, files: Path) -> list[str]:
    """A command line for `command`: every argument, and each option with even odds."""
    argv = list(command.path)
    for param in command.params:
        if param.param_type_name == "argument":
            argv.append(draw(_values(param, files)))
            continue
        # Leaving out a required option now and then checks the usage error too.
        if not draw(st.booleans()) if param.required else draw(st.booleans()):
            continue
        if param.name == "allow_remote":
            continue  # the one accepted use of it binds beyond loopback, which tests must not
        flag = draw(st.sampled_from([*param.opts, *param.secondary_opts]))
        if param.is_flag:
            argv.append(flag)
        else:
            argv += [flag, draw(_values(param, files))]
    return argv


def _dump(path: Path) -> str:
    """Every table's schema and rows, as SQL."""
    connection = sqlite3.connect(path)
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Input files, good and bad, for the options that take a path."""
    folder = tmp_path_factory.mktemp("files")
    (folder / "events.csv").write_text(EVENTS_CSV)
    (folder / "trainers.csv").write_text(TRAINERS_CSV)
    (folder / "cp1252.csv").write_bytes(TRAINERS_CSV.replace("Cat", "René").encode("cp1252"))
    (folder / "semicolons.csv").write_text(TRAINERS_CSV.replace(",", ";"))
    (folder / "huge-field.csv").write_text(TRAINERS_CSV.replace("Cat", "C" * 2_000_000))
    (folder / "markup.csv").write_text(TRAINERS_CSV.replace("Cat", "[red]Cat[/red]"))
    (folder / "empty.csv").write_text("")
    (folder / "binary.bin").write_bytes(bytes(range(256)))
    (folder / "rules.yaml").write_text("subject: '{course}'\n")
    (folder / "bad-rules.yaml").write_text("subject: [unclosed\n")
    (folder / "state.json").write_text("{not json")
    (folder / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    (folder / "a-directory").mkdir()
    return folder


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, files: Path, sqlite_template: Path) -> Path:
    """A store with two providers, services, linked and unlinked trainers (Ann in both
    providers), an imported event, a block of unavailability and a clash of Ann's session
    with her own Outlook item (one current, one resolved)."""
    path = tmp_path_factory.mktemp("store") / "template.db"
    url = migrated_sqlite(sqlite_template, path)
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ACME_EWS_PASSWORD", "not-used")
        for args in (
            ("provider", "add", "Acme", "--sync-engine"),
            ("provider", "add", "Beta"),
            service_add("acme-ews", username="master@acme.test", endpoint=CLOSED_ENDPOINT,
                        secret="env:ACME_EWS_PASSWORD", no_verify=True),
            service_add("beta-ews", provider="Beta", endpoint=EWS_URL,
                        username="master@acme.test", secret="env:ACME_EWS_PASSWORD",
                        no_verify=True),
            ("trainer", "add", "--provider", "Acme", "--name", "Ann", "--email", "ann@acme.test"),
            ("trainer", "add", "--provider", "Acme", "--name", "Bob", "--email", "bob@acme.test"),
            ("trainer", "add", "--provider", "Beta", "--name", "Ann", "--email", "ann@acme.test"),
            ("trainer", "link", "ann@acme.test", "--provider", "Acme", "--service", "acme-ews",
             "--direction", "both"),
            ("events", "import", str(files / "events.csv"), "--provider", "Acme"),
            ("unavailability", "add", "--trainer", "ann@acme.test", "--provider", "Acme",
             "--start", "2026-03-03T09:00:00+00:00", "--end", "2026-03-03T12:00:00+00:00"),
        ):  # fmt: skip
            result = runner.invoke(app, ["--database-url", url, *args])
            assert result.exit_code == 0, (args, result.output)
    _add_clashes(url)
    _add_overrides(url)
    db.get_engine(url).dispose()
    return path


def _add_clashes(url: str) -> None:
    """Ann's session of the imported event overlaps two of her Outlook items; one of the
    clashes has been resolved. (Only a sync finds clashes: it is not run here.)"""
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    with db.transaction(url) as s:
        ann = configuration.find_trainer(s, "ann@acme.test", "Acme")
        for n, resolved in enumerate((None, start)):
            s.add(
                TrainerClash(
                    trainer_id=ann.id,
                    entry_key="session:1",
                    item_id=f"OWN-{n}",
                    course="First Aid",
                    session_start=start,
                    session_end=start + timedelta(hours=8),
                    busy_start=start + timedelta(hours=n + 1),
                    busy_end=start + timedelta(hours=n + 2),
                    show_as="OOF",
                    first_seen_at=start,
                    last_seen_at=start,
                    resolved_at=resolved,
                )
            )


def _add_overrides(url: str) -> None:
    """Ann moved one pushed session in Outlook and deleted another, lately: the sync put both
    back (the tamper report's rows). Her display name is markup, as a hostile one would be."""
    now = datetime.now(UTC)
    with db.transaction(url) as s:
        ann = configuration.find_trainer(s, "ann@acme.test", "Acme")
        run = SyncRun(provider_id=ann.provider_id, trainer_id=ann.id, status="synced")
        s.add(run)
        s.flush()
        for reason, by in (
            ("tampered_in_exchange", "[bold]Ann[/bold]"),
            ("deleted_in_exchange", None),
        ):
            s.add(
                SyncChange(
                    run_id=run.id,
                    trainer_id=ann.id,
                    side="exchange",
                    action="update" if by else "create",
                    reason=reason,
                    changed_fields="start;end" if by else None,
                    modified_by=by,
                    modified_at=now if by else None,
                    created_at=now - timedelta(days=1),
                )
            )


@pytest.fixture(scope="module")
def boundaries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Stop at the runs named in the docstring, and keep every file a command makes in a
    scratch directory."""
    import deployments.serve
    import emulators.ews.runner
    import emulators.graph.runner
    import flows.sync

    def reached(*_args: object, **_kwargs: object) -> None:
        raise ReachedBoundary

    def stop_at_once(server: Any) -> None:  # as Ctrl+C would, once listening
        server.server_close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flows.sync, "sync_provider", reached)
        patch.setattr(deployments.serve, "serve_deployments", reached)
        patch.setattr(deployments.serve, "apply_to_work_pool", reached)
        patch.setattr(emulators.ews.runner, "serve_until_interrupted", stop_at_once)
        patch.setattr(emulators.graph.runner, "serve_until_interrupted", stop_at_once)
        patch.setenv("ACME_EWS_PASSWORD", "not-used")
        patch.delenv("TRAINER_SYNC_DATABASE_URL", raising=False)
        # A Prefect server that does not answer: a secret to keep in a block is refused.
        patch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
        patch.chdir(tmp_path_factory.mktemp("cwd"))
        yield


# Both sides of a documented outcome: 1 is "ran, and a trainer or check failed".
EXIT_CODES = {("sync",): {0, 1, 2}, ("validate",): {0, 1, 2}, ("service", "verify"): {0, 1, 2}}


# Commands that sign in to the store's service, which refuses at once but is retried (about
# 1.5 s): fewer examples, over a smaller space of inputs.
EXAMPLES = {("validate",): 2, ("service", "verify"): 5}
# The suite's budget; set it higher for a longer search (TRAINER_SYNC_CLI_EXAMPLES=500).
DEFAULT_EXAMPLES = int(os.environ.get("TRAINER_SYNC_CLI_EXAMPLES", "10"))


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_every_command_answers_hostile_input_without_a_traceback(
    command: Command, template: Path, files: Path, boundaries: None, tmp_path: Path
) -> None:
    stores = itertools.count()

    @settings(
        max_examples=EXAMPLES.get(command.path, DEFAULT_EXAMPLES), deadline=None, database=None
    )
    @given(data=st.data())
    def answers(data: st.DataObject) -> None:
        argv = data.draw(_argv(command, files), label="argv")
        secret = data.draw(st.sampled_from(SECRET_INPUT), label="stdin")
        store = tmp_path / f"store-{next(stores)}.db"  # a fresh file: no WAL of an earlier one
        shutil.copyfile(template, store)
        url = f"sqlite:///{store}"
        before = _dump(store)
        try:
            result = CliRunner().invoke(app, ["--database-url", url, *argv], input=secret)
        except ReachedBoundary:
            return
        finally:
            db.get_engine(url).dispose()
        assert result.exit_code in EXIT_CODES.get(command.path, {0, 2}), (
            f"exit {result.exit_code}: {result.exception!r:.500}\n{result.output:.2000}"
        )
        assert "Traceback" not in result.output
        if result.exit_code == 2:
            assert result.output.strip(), "refused without a word"
            assert _dump(store) == before, "a refused command changed the store"

    answers()
