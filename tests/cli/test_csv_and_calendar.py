"""CSV imports (all or nothing, line-numbered errors), unavailability and the calendar view."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from sync_rules.render import all_day_dates
from tests.cli.conftest import Invoke, as_json, write

EVENTS_HEADER = (
    "event_ref,course,venue,venue_address,status,session_start,session_end,trainer_emails,"
    "event_url,delegate_instructions_url,trainer_instructions_url\n"
)
E1 = "E1,First Aid,Leeds,1 Park Row,scheduled,{start},{end},ann@acme.test;bob@acme.test,https://lms.test/e/E1,https://lms.test/d/E1,https://lms.test/t/E1\n"  # noqa: E501


def _events_csv(tmp_path: Path, rows: list[tuple[str, str]], name: str = "events.csv") -> Path:
    body = "".join(E1.format(start=s, end=e) for s, e in rows)
    return write(tmp_path / name, EVENTS_HEADER + body)


def _calendar(cli: Invoke, since: str = "2026-03-01", email: str = "ann@acme.test") -> list[dict]:
    """A month of the trainer's calendar, from `since`."""
    until = str(pd.Timestamp(since) + pd.Timedelta(days=31))[:10]
    return as_json(cli("calendar", "--trainer", email, "--from", since, "--to", until, "--json"))


DAY1 = ("2026-03-02T09:00:00+00:00", "2026-03-02T17:00:00+00:00")
DAY2 = ("2026-03-03T09:00:00+00:00", "2026-03-03T17:00:00+00:00")


def test_events_import_shows_on_both_trainers_calendars(configured: Invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = configured(
        "events", "import", str(_events_csv(tmp_path, [DAY1, DAY2])), "--provider", "Acme"
    )
    assert result.exit_code == 0, result.output
    assert "1 event(s) created" in result.stdout
    for email in ("ann@acme.test", "bob@acme.test"):
        rows = _calendar(configured, email=email)
        assert [r["start"] for r in rows] == [
            "2026-03-02T09:00:00+00:00",
            "2026-03-03T09:00:00+00:00",
        ]
        assert {r["course"] for r in rows} == {"First Aid"}
        assert {r["origin"] for r in rows} == {"platform"}
        assert rows[0]["trainer_instructions_url"] == "https://lms.test/t/E1"


def test_reimport_changes_nothing_and_a_changed_row_updates_in_place(
    configured: Invoke, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    path = _events_csv(tmp_path, [DAY1, DAY2])
    configured("events", "import", str(path), "--provider", "Acme")
    before = _calendar(configured)
    again = configured("events", "import", str(path), "--provider", "Acme")
    assert "0 event(s) created, 0 updated, 0 session change(s)" in again.stdout
    assert _calendar(configured) == before

    moved = ("2026-03-04T10:00:00+01:00", "2026-03-04T16:00:00+01:00")
    changed = _events_csv(tmp_path, [DAY1, moved], "changed.csv")
    result = configured("events", "import", str(changed), "--provider", "Acme")
    assert "1 updated, 1 session change(s)" in result.stdout
    after = _calendar(configured)
    # The rescheduled session keeps its key (and so, later, its Outlook item).
    assert [r["entry_key"] for r in after] == [r["entry_key"] for r in before]
    assert after[1]["start"] == "2026-03-04T09:00:00+00:00"


def test_cancelled_event_leaves_the_calendar(configured: Invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    configured("events", "import", str(_events_csv(tmp_path, [DAY1])), "--provider", "Acme")
    text = (EVENTS_HEADER + E1.format(start=DAY1[0], end=DAY1[1])).replace("scheduled", "cancelled")
    result = configured(
        "events", "import", str(write(tmp_path / "c.csv", text)), "--provider", "Acme"
    )
    assert result.exit_code == 0, result.output
    assert _calendar(configured) == []


BAD_EVENT_ROWS = [
    pytest.param(
        ("2026-03-02T09:00:00", "2026-03-02T17:00:00+00:00"), "has no UTC offset", id="no-offset"
    ),
    pytest.param(
        ("2026-03-02T17:00:00+00:00", "2026-03-02T09:00:00+00:00"),
        "ends (2026-03-02T09:00:00+00:00) before it starts",
        id="ends-before-start",
    ),
    pytest.param(
        ("tomorrow", "2026-03-02T09:00:00+00:00"), "is not an ISO 8601 time", id="not-a-time"
    ),
]


@pytest.mark.parametrize(("times", "message"), BAD_EVENT_ROWS)
def test_a_bad_event_row_rejects_the_whole_file(
    configured: Invoke, tmp_path, times, message
) -> None:  # type: ignore[no-untyped-def]
    path = _events_csv(tmp_path, [DAY1, times, DAY2])
    result = configured("events", "import", str(path), "--provider", "Acme")
    assert result.exit_code == 2
    assert "line 3:" in result.stderr and message in result.stderr
    assert "nothing was imported" in result.stderr
    assert _calendar(configured) == []


def test_event_rows_naming_unknown_trainers_are_reported_by_line(
    configured: Invoke, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    text = EVENTS_HEADER + E1.format(start=DAY1[0], end=DAY1[1]).replace("bob@", "zed@")
    result = configured(
        "events", "import", str(write(tmp_path / "e.csv", text)), "--provider", "Acme"
    )
    assert result.exit_code == 2
    assert "line 2: trainer zed@acme.test is not a trainer of 'Acme'" in result.stderr


TRAINERS_HEADER = "provider,name,email,service,direction,calendar\n"


def test_trainer_import_creates_and_links_in_bulk(configured: Invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(
        tmp_path / "t.csv",
        TRAINERS_HEADER
        + "Acme,Cat,cat@acme.test,acme-ews,in,true\n"
        + "Acme,Bob B,bob@acme.test,acme-ews,both,false\n",
    )
    result = configured("trainer", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "1 trainer(s) created, 1 updated" in result.stdout
    trainers = {t["email"]: t for t in as_json(configured("trainer", "list", "--json"))}
    assert trainers["cat@acme.test"]["direction"] == "in"
    assert (trainers["bob@acme.test"]["name"], trainers["bob@acme.test"]["calendar"]) == (
        "Bob B",
        False,
    )


def test_trainer_import_with_bad_rows_writes_nothing(configured: Invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = as_json(configured("trainer", "list", "--json"))
    path = write(
        tmp_path / "t.csv",
        TRAINERS_HEADER
        + "Acme,Cat,cat@acme.test,acme-ews,in,true\n"
        + "Acme,Dan,dan@acme.test,acme-ews,sideways,true\n"
        + "Acme,Eve,eve@other.test,acme-ews,out,true\n"
        + "Nope,Fay,fay@acme.test,acme-ews,out,true\n"
        + "Acme,Cat again,cat@acme.test,acme-ews,in,true\n",
    )
    result = configured("trainer", "import", str(path))
    assert result.exit_code == 2
    err = result.stderr
    assert "4 bad row(s)" in err
    assert "line 3: Unknown direction 'sideways'" in err
    assert "line 4: Mailbox 'eve@other.test' is in domain 'other.test'" in err
    assert "line 5: Unknown provider 'Nope'" in err
    assert "line 6: cat@acme.test appears twice for 'Acme' (also line 2)" in err
    assert as_json(configured("trainer", "list", "--json")) == before


def test_missing_columns_are_named(configured: Invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path / "t.csv", "provider,name,email\nAcme,Cat,cat@acme.test\n")
    result = configured("trainer", "import", str(path))
    assert result.exit_code == 2
    assert "missing column(s) service, direction, calendar" in result.stderr


def test_unavailability_shows_with_its_origin(configured: Invoke) -> None:
    result = configured(
        "unavailability",
        "add",
        "--trainer",
        "ann@acme.test",
        "--start",
        "2026-03-05T00:00:00+00:00",
        "--end",
        "2026-03-06T00:00:00+00:00",
        "--all-day",
        "--reason",
        "Leave",
    )
    assert result.exit_code == 0, result.output
    (row,) = _calendar(configured)
    assert (row["kind"], row["origin"], row["all_day"], row["reason"]) == (
        "unavailability",
        "platform",
        True,
        "Leave",
    )
    table = configured("calendar", "--trainer", "ann@acme.test", "--from", "2026-03-01")
    assert "Unavailable (Leave)" in table.stdout and "platform" in table.stdout


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-03-05T10:00:00+00:00", "2026-03-05T09:00:00+00:00", "ends"),
        ("2026-03-05T10:00:00", "2026-03-05T11:00:00+00:00", "has no UTC offset"),
    ],
)
def test_bad_unavailability_is_refused(
    configured: Invoke, start: str, end: str, message: str
) -> None:
    result = configured(
        "unavailability", "add", "--trainer", "ann@acme.test", "--start", start, "--end", end
    )
    assert result.exit_code == 2 and message in result.stderr
    assert _calendar(configured) == []


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2027-07-05T00:00:00+00:00", "2027-07-06T00:00:00+00:00"),  # the README's UTC midnights
        ("2027-07-05", "2027-07-06"),
        ("2027-07-05T00:00:00+01:00", "2027-07-06T00:00:00+01:00"),
    ],
)
def test_all_day_leave_is_the_days_meant_even_in_summer_time(
    configured: Invoke, start: str, end: str
) -> None:
    result = configured(
        "unavailability", "add", "--trainer", "ann@acme.test", "--all-day",
        "--start", start, "--end", end,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "all day 2027-07-05)" in result.stdout
    (row,) = _calendar(configured, "2027-07-01")
    # London midnights of 5 and 6 July (BST): exactly one day, which is what Outlook gets.
    assert (row["start"], row["end"]) == ("2027-07-04T23:00:00+00:00", "2027-07-05T23:00:00+00:00")
    begins, ends = (pd.Timestamp(row[k]) for k in ("start", "end"))
    assert all_day_dates(begins, ends, "Europe/London") == (date(2027, 7, 5), date(2027, 7, 5))


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2027-07-05T09:30:00+01:00", "2027-07-05T15:00:00+01:00", "not a whole day"),
        ("2027-07-06", "2027-07-05", "ends (2027-07-05) on or before"),
    ],
)
def test_all_day_with_times_of_day_is_refused(
    configured: Invoke, start: str, end: str, message: str
) -> None:
    result = configured(
        "unavailability", "add", "--trainer", "ann@acme.test", "--all-day",
        "--start", start, "--end", end,
    )  # fmt: skip
    assert result.exit_code == 2 and message in result.stderr
    assert "Traceback" not in result.output
    assert _calendar(configured, "2027-07-01") == []
