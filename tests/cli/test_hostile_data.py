"""Hostile and awkward input through the real CLI: files in the wrong encoding or separator,
huge or multi-line values, links that are not web pages, and text that looks like markup.

Every refusal exits 2 with a message naming what was wrong, writes nothing and prints no
traceback; everything shown is shown as it was typed.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import Result

from connectors.platform import db
from connectors.platform.models import Trainer
from connectors.platform.state import record_changes, start_run
from tests.cli.conftest import Invoke, as_json

TRAINERS_HEADER = "provider,name,email,service,direction,calendar\n"
CAT = "Acme,Cat,cat@acme.test,acme-ews,in,true\n"
EVENTS_HEADER = (
    "event_ref,course,venue,venue_address,status,session_start,session_end,trainer_emails,"
    "event_url,delegate_instructions_url,trainer_instructions_url\n"
)
TIMES = "2026-03-02T09:00:00+00:00,2026-03-02T17:00:00+00:00"
URLS = "https://lms.test/e/1,https://lms.test/d/1,https://lms.test/t/1"


def event_row(course: str = "First Aid", venue: str = "Leeds", urls: str = URLS) -> str:
    return f"E1,{course},{venue},1 Park Row,scheduled,{TIMES},ann@acme.test,{urls}\n"


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def snapshot(cli: Invoke) -> tuple[object, object]:
    """What an import could change: the trainers and Ann's calendar."""
    calendar = cli(
        "calendar", "--trainer", "ann@acme.test", "--from", "2026-03-01", "--to", "2026-04-01"
    )
    return as_json(cli("trainer", "list", "--json")), calendar.stdout


def refused(result: Result, *phrases: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def import_trainers(cli: Invoke, path: Path) -> Result:
    return cli("trainer", "import", str(path))


def import_events(cli: Invoke, path: Path) -> Result:
    return cli("events", "import", str(path), "--provider", "Acme")


# --- encodings ---------------------------------------------------------------------------------


def test_utf8_with_a_byte_order_mark_is_read(configured: Invoke, tmp_path: Path) -> None:
    text = TRAINERS_HEADER + "Acme,René Ärger,rene@acme.test,acme-ews,in,true\n"
    path = write_bytes(tmp_path / "t.csv", b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = import_trainers(configured, path)
    assert result.exit_code == 0, result.output
    names = {t["email"]: t["name"] for t in as_json(configured("trainer", "list", "--json"))}
    assert names["rene@acme.test"] == "René Ärger"


def test_files_not_in_utf8_are_refused_saying_how_to_save_them(
    configured: Invoke, tmp_path: Path
) -> None:
    before = snapshot(configured)
    trainers = TRAINERS_HEADER + "Acme,René,rene@acme.test,acme-ews,in,true\n"
    events = EVENTS_HEADER + event_row(course="Sécurité")
    for result, phrases in [
        (
            import_trainers(configured, write_bytes(tmp_path / "w.csv", trainers.encode("cp1252"))),
            ["not UTF-8", "line 2", "0xE9"],
        ),
        (
            import_events(configured, write_bytes(tmp_path / "l.csv", events.encode("latin-1"))),
            ["not UTF-8", "line 2", "0xE9"],
        ),
        (
            import_trainers(configured, write_bytes(tmp_path / "u.csv", trainers.encode("utf-16"))),
            ["UTF-16 text, not UTF-8"],
        ),
    ]:
        refused(result, *phrases, "CSV UTF-8 (Comma delimited)")
    assert snapshot(configured) == before


# --- separators and sizes ----------------------------------------------------------------------


def test_a_file_separated_by_something_else_says_so(configured: Invoke, tmp_path: Path) -> None:
    before = snapshot(configured)
    for separator, named in ((";", "';'"), ("\t", "tabs")):
        text = (TRAINERS_HEADER + CAT).replace(",", separator)
        result = import_trainers(configured, write_bytes(tmp_path / "t.csv", text.encode()))
        refused(result, f"separated by {named}, not by commas")
        assert "missing column" not in result.stderr
    events = (EVENTS_HEADER + event_row()).replace(",", ";")
    refused(import_events(configured, write_bytes(tmp_path / "e.csv", events.encode())), "';'")
    assert snapshot(configured) == before


def test_a_field_over_the_csv_limit_is_refused_with_its_line(
    configured: Invoke, tmp_path: Path
) -> None:
    before = snapshot(configured)
    text = TRAINERS_HEADER + CAT + "Acme," + "x" * 2_000_000 + ",dan@acme.test,acme-ews,in,true\n"
    result = import_trainers(configured, write_bytes(tmp_path / "t.csv", text.encode()))
    refused(result, "line 3:", "longer than 131,072 characters")
    assert len(result.output) < 2_000
    assert snapshot(configured) == before


def test_values_longer_than_the_store_keeps_are_refused_by_line(
    configured: Invoke, tmp_path: Path
) -> None:
    before = snapshot(configured)
    text = EVENTS_HEADER + event_row(course="C" * 100_000)
    result = import_events(configured, write_bytes(tmp_path / "e.csv", text.encode()))
    refused(result, "line 2: course is 100,000 characters long; it can hold at most 300")
    assert len(result.output) < 2_000  # the value itself is never repeated
    names = TRAINERS_HEADER + "Acme," + "N" * 201 + ",dan@acme.test,acme-ews,in,true\n"
    result = import_trainers(configured, write_bytes(tmp_path / "t.csv", names.encode()))
    refused(result, "line 2: name is 201 characters long; it can hold at most 200")
    assert snapshot(configured) == before


def test_a_value_spanning_lines_is_refused(configured: Invoke, tmp_path: Path) -> None:
    before = snapshot(configured)
    text = EVENTS_HEADER + event_row(course='"First\nAid"')
    result = import_events(configured, write_bytes(tmp_path / "e.csv", text.encode()))
    refused(result, "line 2: course 'First\\nAid' contains a line break")
    assert snapshot(configured) == before


# --- links -------------------------------------------------------------------------------------


BAD_URLS = ("javascript:alert(1)", "not a url", "ftp://x", "https://")


def test_links_must_be_web_pages(configured: Invoke, tmp_path: Path) -> None:
    before = snapshot(configured)
    bad = [
        event_row(urls=f"https://lms.test/e/1,{url},https://lms.test/t/1").replace("E1", f"E{i}")
        for i, url in enumerate(BAD_URLS, start=2)
    ]
    text = EVENTS_HEADER + event_row() + "".join(bad)
    result = import_events(configured, write_bytes(tmp_path / "e.csv", text.encode()))
    refused(result, f"{len(BAD_URLS)} bad row(s)")
    for line, url in enumerate(BAD_URLS, start=3):
        assert f"line {line}: delegate_instructions_url: {url!r} is not a web address" in (
            result.stderr
        )
    assert snapshot(configured) == before


# --- counts ------------------------------------------------------------------------------------


def test_a_trainer_reimport_that_changes_nothing_updates_nothing(
    configured: Invoke, tmp_path: Path
) -> None:
    path = write_bytes(tmp_path / "t.csv", (TRAINERS_HEADER + CAT).encode())
    assert "1 trainer(s) created, 0 updated" in import_trainers(configured, path).stdout
    again = import_trainers(configured, path)
    assert again.exit_code == 0, again.output
    assert "0 trainer(s) created, 0 updated, 1 unchanged" in again.stdout
    renamed = write_bytes(
        tmp_path / "r.csv", (TRAINERS_HEADER + CAT.replace("Cat", "Kat")).encode()
    )
    assert (
        "0 trainer(s) created, 1 updated, 0 unchanged"
        in import_trainers(configured, renamed).stdout
    )


def test_one_bad_row_with_two_problems_counts_as_one_row(
    configured: Invoke, tmp_path: Path
) -> None:
    text = TRAINERS_HEADER + "Acme,Dan,not-an-email,acme-ews,sideways,true\n"
    result = import_trainers(configured, write_bytes(tmp_path / "t.csv", text.encode()))
    refused(result, "1 bad row(s) (2 problems)", "line 2: Unknown direction 'sideways'")


# --- text is data, never markup ----------------------------------------------------------------

HOSTILE_COURSES = ("[/bold] broken", "Zoom [link]", "Thumbs :thumbs_up: [red]up[/red]")


def test_markup_in_names_is_shown_literally(
    configured: Invoke, tmp_path: Path, db_url: str
) -> None:
    rows = "".join(
        event_row(course=course).replace("E1", f"E{i}").replace("09:00", f"{9 + i:02d}:00")
        for i, course in enumerate(HOSTILE_COURSES)
    )
    result = import_events(
        configured, write_bytes(tmp_path / "e.csv", (EVENTS_HEADER + rows).encode())
    )
    assert result.exit_code == 0, result.output
    calendar = configured(
        "calendar", "--trainer", "ann@acme.test", "--from", "2026-03-01", "--to", "2026-04-01"
    )
    assert calendar.exit_code == 0, calendar.output
    # The history as a sync records it: one change per item, summarised by its subject.
    with db.transaction(db_url) as session:
        ann = session.query(Trainer).filter_by(email="ann@acme.test").one()
        run = start_run(session, ann.provider_id, ann.id, "run-1")
        record_changes(
            session,
            run.id,
            [
                {
                    "trainer_id": ann.id,
                    "side": "exchange",
                    "action": "create",
                    "reason": "new_on_platform",
                    "summary": f"{course} — Leeds",
                }
                for course in HOSTILE_COURSES
            ],
        )
    history = configured("history")
    assert history.exit_code == 0, history.output
    for course in HOSTILE_COURSES:
        assert course in calendar.stdout
        assert f"{course} — Leeds" in history.stdout


def test_errors_show_user_input_literally(configured: Invoke) -> None:
    result = configured(
        "trainer", "link", "[/bold]@acme.test", "--service", "acme-ews", "--direction", "[red]out"
    )
    refused(result, "[/bold]@acme.test")
    result = configured("calendar", "--trainer", "[bold]x[/bold]@acme.test")
    refused(result, "[bold]x[/bold]@acme.test")


def test_names_with_markup_added_one_by_one_show_literally(configured: Invoke) -> None:
    added = configured(
        "trainer", "add", "--provider", "Acme", "--name", "[/bold] Dan", "--email", "dan@acme.test"
    )
    assert added.exit_code == 0, added.output
    assert "[/bold] Dan" in added.stdout
    listed = configured("trainer", "list")
    assert listed.exit_code == 0, listed.output
    assert "[/bold] Dan" in listed.stdout


def test_values_typed_one_by_one_are_held_to_the_same_sizes(configured: Invoke) -> None:
    before = snapshot(configured)
    name = "N" * 201
    result = configured(
        "trainer", "add", "--provider", "Acme", "--name", name, "--email", "dan@acme.test"
    )
    refused(result, "name is 201 characters long; it can hold at most 200")
    result = configured(
        "unavailability", "add", "--trainer", "ann@acme.test", "--start", "2026-03-05",
        "--end", "2026-03-06", "--all-day", "--reason", "R" * 301,
    )  # fmt: skip
    refused(result, "reason is 301 characters long; it can hold at most 300")
    assert snapshot(configured) == before
