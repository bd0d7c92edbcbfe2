"""`make demo` as a user runs it: `python -m trainer_sync.demo` in its own process, in a
folder of its own (the demo keeps its state in the working directory's `.demo/`), judged by
what it prints.

One first run serves most tests (it takes several seconds): the port asked for is held by a
plain socket, so that run also shows the demo moving to a free port. Its flows report to
the suite's Prefect test server instead of starting an ephemeral one of their own.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from emulators.ews import run_ews_emulator
from sync_rules.errors import ConfigurationError
from trainer_sync.demo import emulator, report
from trainer_sync.demo.cast import ACCOUNTS, mailbox

REPO = Path(__file__).resolve().parents[2]
WHEN = re.compile(
    r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d{1,2} [A-Z][a-z]{2} \d{4})(?:,? (\d{2}:\d{2}))?"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    stdout: str
    stderr: str


def run_demo(folder: Path, **env: str) -> DemoRun:
    """Run the demo in `folder` as `make demo` does, with these environment variables."""
    child_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "PYTHONIOENCODING": "utf-8",
        "PREFECT_HOME": str(folder / "prefect-home"),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "trainer_sync.demo"],
        cwd=folder,
        env=child_env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    return DemoRun(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def squatter() -> Iterator[int]:
    """A loopback port held by a plain listening socket that never answers: not an emulator."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def first_run(
    prefect_api: None, squatter: int, tmp_path_factory: pytest.TempPathFactory
) -> DemoRun:
    from prefect.settings import PREFECT_API_URL

    folder = tmp_path_factory.mktemp("demo")
    run = run_demo(
        folder, DEMO_EWS_PORT=str(squatter), PREFECT_API_URL=str(PREFECT_API_URL.value())
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (folder / ".demo" / "trainer_sync.db").exists()  # its own folder, not the repo's
    return run


def table(output: str, title: str) -> list[list[str]]:
    """The rows (lists of cell texts) of every rich table with this title."""
    rows: list[list[str]] = []
    inside = False
    for line in output.splitlines():
        if line.strip() == title:
            inside = True
        elif inside and line.startswith("└"):
            inside = False
        elif inside and line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def times_in(text: str) -> list[datetime]:
    return [
        datetime.strptime(f"{day} {clock or '00:00'}", "%d %b %Y %H:%M")
        for day, clock in WHEN.findall(text)
    ]


def test_a_port_taken_by_something_else_is_left_alone_for_a_free_one(
    first_run: DemoRun, squatter: int
) -> None:
    assert (
        f"Port {squatter} on 127.0.0.1 is taken by something that is not an EWS emulator"
        in first_run.stdout
    )
    started = re.search(r"Started the EWS emulator at http://127\.0\.0\.1:(\d+)/", first_run.stdout)
    assert started is not None, first_run.stdout
    assert int(started.group(1)) != squatter
    assert "Traceback" not in first_run.stderr


def test_each_trainers_direction_is_printed(first_run: DemoRun) -> None:
    rows = table(first_run.stdout, "Trainers and their directions")
    directions = {row[1]: row[2] for row in rows}
    assert directions == {mailbox("ann"): "out", mailbox("ben"): "in", mailbox("cat"): "both"}
    assert all(row[3] for row in rows)  # and what each direction syncs


def test_a_pushed_course_shows_its_address_and_joining_links_as_outlook_reads_it(
    first_run: DemoRun,
) -> None:
    shown = first_run.stdout.split("as her Outlook shows it", 1)[1]
    assert "Location: Leeds Training Centre, 1 Park Row, Leeds LS1 5AB" in shown
    links = "https://lms.demo-training.test/events/FA-101"
    assert f"Event page: {links}\n" in shown
    assert f"Delegate joining instructions: {links}/joining-delegates" in shown
    assert f"Trainer joining instructions: {links}/joining-trainers" in shown


def test_it_says_why_the_in_trainer_got_no_course(first_run: DemoRun) -> None:
    out = first_run.stdout
    assert "Ben Baker (ben@demo-training.test, in) teaches these courses but got none" in out
    assert re.search(
        r"^  GDPR Essentials: Thu \d{1,2} [A-Z][a-z]{2} \d{4}, 10:00–12:00$", out, re.M
    )
    assert 'mirrored into the platform as "Unavailable"' in out
    assert "platform sessions are not pushed to them" in out
    changes = table(out, "What changed where, and why")
    assert {row[2] for row in changes if row[0] == "Ben Baker"} == {"platform"}


def test_changes_are_listed_by_trainer_in_time_order(first_run: DemoRun) -> None:
    changes = table(first_run.stdout, "What changed where, and why")
    assert changes and all(row[0] for row in changes)  # each row on one line
    for sync in first_run.stdout.split("== Syncing")[1:]:
        rows = table(sync, "What changed where, and why")
        for trainer in {row[0] for row in rows}:
            starts = [times_in(row[-1])[0] for row in rows if row[0] == trainer]
            assert starts == sorted(starts), (trainer, starts)
    # Ben's stand-ups (Mondays) and dentist (a Tuesday) interleave: text order would not.
    bens = [row[-1] for row in changes if row[0] == "Ben Baker"]
    assert [s.split(": ", 1)[1][:3] for s in bens[:3]] == ["Mon", "Tue", "Mon"]


def test_dates_read_one_way_and_a_one_day_all_day_item_as_one_day(first_run: DemoRun) -> None:
    out = first_run.stdout
    assert re.search(r"create Unavailable: Fri \d{1,2} [A-Z][a-z]{2} \d{4} \(all day\)", out)
    assert not re.search(r"\d{4} – \w{3} \d{1,2} \w{3} \d{4} \(all day\)", out)
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", out)  # no ISO dates beside the others
    assert not re.search(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) 0\d\b", out)  # "Tue 08 Dec"
    assert "Deleted 'First Aid at Work — Leeds Training Centre' (Mon " in out


def test_user_text_in_brackets_is_printed_as_it_is(first_run: DemoRun) -> None:
    out = first_run.stdout
    assert "create 'Fire Safety Awareness [half day] — Manchester Hub': Wed " in out
    assert "update 'First Aid at Work — Leeds Training Centre' [subject]: " in out


def test_a_bad_port_setting_is_refused_with_what_to_do(tmp_path: Path) -> None:
    run = run_demo(tmp_path, DEMO_EWS_PORT="[eighty]")
    assert run.returncode == 2
    assert "DEMO_EWS_PORT='[eighty]' is not a port number." in run.stderr
    assert "What to do: set DEMO_EWS_PORT to a port from 1 to 65535" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / ".demo").exists()


def test_an_emulator_that_cannot_start_is_reported_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / ".demo").mkdir()
    (tmp_path / ".demo" / "ews-state.json").write_text("{damaged")
    run = run_demo(tmp_path, DEMO_EWS_PORT=str(free_port()))
    assert run.returncode == 2
    assert "Error: The demo's EWS emulator did not start: " in run.stderr
    assert "ews-state.json" in run.stderr and "What to do: " in run.stderr  # names the file
    assert "Traceback" not in run.stderr


def test_an_emulator_counts_as_the_demos_only_when_it_holds_all_its_accounts() -> None:
    with run_ews_emulator() as ews:
        assert emulator.occupant_of(ews.port) is emulator.Occupant.OTHER_EMULATOR
        assert ews.control.accounts() == []  # looked at, not written to
        for account in ACCOUNTS[:-1]:
            ews.control.add_account(account, "pw")
        assert emulator.occupant_of(ews.port) is emulator.Occupant.OTHER_EMULATOR
        ews.control.add_account(ACCOUNTS[-1], "pw")
        assert emulator.occupant_of(ews.port) is emulator.Occupant.DEMO_EMULATOR


def test_a_free_port_and_a_silent_one(squatter: int) -> None:
    assert emulator.occupant_of(free_port()) is emulator.Occupant.NOTHING
    assert emulator.occupant_of(squatter) is emulator.Occupant.SOMETHING_ELSE


def test_a_server_that_does_not_speak_http_is_something_else() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def greet_and_hang_up() -> None:
            for _ in range(2):  # once for each control call the probe might make
                connection, _address = server.accept()
                with connection:
                    connection.sendall(b"220 mail.example ESMTP\r\n")

        greeter = threading.Thread(target=greet_and_hang_up, daemon=True)
        greeter.start()
        port = server.getsockname()[1]
        assert emulator.occupant_of(port) is emulator.Occupant.SOMETHING_ELSE


@pytest.mark.parametrize("value", ["0", "65536", "-1", "80.5"])
def test_the_port_setting_takes_port_numbers_only(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(emulator.PORT_ENV, value)
    with pytest.raises(ConfigurationError):
        emulator.requested_port()
    monkeypatch.setenv(emulator.PORT_ENV, "8766")
    assert emulator.requested_port() == 8766
    monkeypatch.delenv(emulator.PORT_ENV)
    assert emulator.requested_port() == emulator.DEFAULT_PORT


@pytest.mark.parametrize(
    ("summary", "when"),
    [
        ("create 'Talk: 1 Jan 2020': Mon 7 Dec 2026, 09:00–17:00", datetime(2026, 12, 7, 9)),
        ("create Unavailable: Fri 11 Dec 2026 (all day)", datetime(2026, 12, 11)),
        (
            "update 'A' [start;end]: Tue 8 Dec 2026, 09:00–17:00 → Wed 9 Dec 2026, 10:00–12:00",
            datetime(2026, 12, 9, 10),
        ),
        (
            "delete item of session:3: Mon 7 Dec 2026 22:00 – Tue 8 Dec 2026 02:00",
            datetime(2026, 12, 7, 22),
        ),
        ("delete Unavailable: ", datetime.max),
    ],
)
def test_a_changes_time_is_where_its_item_is_now(summary: str, when: datetime) -> None:
    assert report.time_of(summary) == when


# --- `make ui`'s emulator ------------------------------------------------------------------------


def test_make_ui_refuses_an_emulator_without_the_demos_accounts(tmp_path: Path) -> None:
    # As `make ui` runs it; an emulator someone else started (an empty one) holds the port.
    with run_ews_emulator() as ews:
        done = subprocess.run(
            [sys.executable, "-m", "trainer_sync.demo.ui_emulator", str(tmp_path / "p.db")],
            capture_output=True,
            text=True,
            env={**os.environ, "DEMO_EWS_PORT": str(ews.port)},
            check=False,
        )
        assert ews.control.accounts() == []  # looked at, not written to
    assert done.returncode == 2, done.stderr
    assert f"Port {ews.port} on 127.0.0.1 is taken by an EWS emulator without the demo's" in (
        done.stderr
    )
    assert "DEMO_EWS_PORT=8800 make demo" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_make_ui_starts_one_on_a_free_port_and_reuses_the_demos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from typer.testing import CliRunner

    from connectors.platform import configuration, db
    from connectors.platform.models import Service
    from tests.cli.conftest import service_add
    from trainer_sync.cli import app
    from trainer_sync.demo import ui_emulator

    store = tmp_path / "trainer_sync.db"
    url = f"sqlite:///{store}"
    db.upgrade(url)
    for args in (  # the demo's service, left on another port by an earlier demo
        ("provider", "add", "Demo"),
        service_add("demo-ews", provider="Demo", endpoint="http://127.0.0.1:1234/EWS/Exchange.asmx",
                    username="master@demo.test", no_verify=True),
    ):  # fmt: skip
        assert CliRunner().invoke(app, ["--database-url", url, *args]).exit_code == 0
    port = free_port()
    monkeypatch.setenv("DEMO_EWS_PORT", str(port))
    capsys.readouterr()
    assert ui_emulator.main([str(store)]) == 0
    assert capsys.readouterr().out == f"start {port}\n"
    with db.transaction(url) as session:  # the demo had used another port: pointed back
        service: Service = configuration.get_service(session, "demo-ews")
        assert service.endpoint == f"http://127.0.0.1:{port}/EWS/Exchange.asmx"
    db.get_engine(url).dispose()

    with run_ews_emulator() as ews:
        for account in ACCOUNTS:
            ews.control.add_account(account, "pw")
        monkeypatch.setenv("DEMO_EWS_PORT", str(ews.port))
        assert ui_emulator.main([str(tmp_path / "none.db")]) == 0
        assert capsys.readouterr().out == f"reuse {ews.port}\n"


def test_its_closing_line_says_where_its_runs_are_and_they_are_there(first_run: DemoRun) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.settings import PREFECT_API_URL

    api = str(PREFECT_API_URL.value()).rstrip("/")
    last = first_run.stdout.strip().splitlines()[-1]
    assert last.endswith(f"The runs are in the Prefect UI: {api.removesuffix('/api')}/runs")
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=["sync-provider-Demo Training"])
            )
        )
    assert len(runs) >= 2  # the first sync and the one after the trainer's edits


def test_without_a_prefect_server_it_says_the_runs_are_gone(
    monkeypatch: pytest.MonkeyPatch, squatter: int
) -> None:
    from trainer_sync.demo.prefect_server import choose_prefect_server, closing_line

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("UI_PORT", str(squatter))  # something listens there, but not Prefect
    assert choose_prefect_server() is None
    assert "temporary Prefect API that is gone now" in closing_line(None)
    assert "start `make ui`" in closing_line(None)
