"""The extraction query: one provider's entries in a window, for its linked trainers only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from connectors.exchange.config import ServiceConfig
from connectors.platform import configuration, db
from connectors.platform.calendar import add_unavailability, entries_by_key, extract_entries
from connectors.platform.models import (
    Course,
    EventSession,
    EventTrainer,
    TrainingEvent,
    Unavailability,
    Venue,
)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def world(db_url: str) -> dict:
    """Provider Acme with linked Ann and Bob, unlinked Cid, and a second provider Other."""
    with db.transaction(db_url) as s:
        acme = configuration.add_provider(s, "Acme", True)
        other = configuration.add_provider(s, "Other", True)
        svc = configuration.add_service(
            s,
            "Acme",
            ServiceConfig(
                name="acme",
                endpoint="https://mail.acme.test/EWS/Exchange.asmx",
                username="master@acme.test",
                secret_ref="env:X",
            ),
        )
        ann = configuration.add_trainer(s, acme, "Ann", "ann@acme.test")
        bob = configuration.add_trainer(s, acme, "Bob", "bob@acme.test")
        cid = configuration.add_trainer(s, acme, "Cid", "cid@acme.test")
        oli = configuration.add_trainer(s, other, "Oli", "oli@other.test")
        configuration.link_trainer(s, svc, ann, "out")
        configuration.link_trainer(s, svc, bob, "both")
        course = Course(provider_id=acme.id, name="First Aid")
        venue = Venue(provider_id=acme.id, name="Leeds", address="1 Park Row")
        s.add_all([course, venue])
        s.flush()

        def event_with(ref: str, status: str, starts: list[datetime], trainers: list) -> None:
            ev = TrainingEvent(
                provider_id=acme.id,
                ref=ref,
                course_id=course.id,
                venue_id=venue.id,
                status=status,
                event_url=f"https://lms.test/e/{ref}",
            )
            ev.sessions = [EventSession(start=t, end=t + HOUR) for t in starts]
            ev.assignments = [EventTrainer(trainer_id=t.id) for t in trainers]
            s.add(ev)

        # The window under test is [T0, T0 + 10h).
        event_with("E1", "scheduled", [T0 - HOUR, T0 + 9 * HOUR, T0 + 10 * HOUR], [ann, bob, cid])
        event_with("E2", "cancelled", [T0 + 2 * HOUR], [ann])
        event_with("E3", "scheduled", [T0 - 2 * HOUR + timedelta(minutes=30)], [ann])
        add_unavailability(s, ann, T0 + 3 * HOUR, T0 + 4 * HOUR, reason="Dentist")
        add_unavailability(s, oli, T0 + 3 * HOUR, T0 + 4 * HOUR)
        add_unavailability(s, cid, T0 + 3 * HOUR, T0 + 4 * HOUR)
        s.add(
            Unavailability(
                trainer_id=bob.id,
                start=T0 + 5 * HOUR,
                end=T0 + 6 * HOUR,
                origin="exchange",
                source_item_id="AAMk-1",
            )
        )
        ids = {"acme": acme.id, "ann": ann.id, "bob": bob.id, "cid": cid.id}
    return {"url": db_url, **ids}


def _extract(world: dict) -> list[dict]:
    with db.transaction(world["url"]) as s:
        return extract_entries(s, world["acme"], T0, T0 + 10 * HOUR)


def test_window_edges_are_half_open(world: dict) -> None:
    rows = _extract(world)
    starts = sorted({r["start"] for r in rows if r["kind"] == "session"})
    # The session ending exactly at the window's start and the one starting exactly at its
    # end are outside; the one ending 30 minutes into the window... ends before T0 too.
    assert starts == [T0 + 9 * HOUR]


def test_cancelled_events_and_unlinked_trainers_are_left_out(world: dict) -> None:
    rows = _extract(world)
    trainers = {r["trainer_id"] for r in rows}
    assert trainers == {world["ann"], world["bob"]}
    assert not [r for r in rows if r["start"] == T0 + 2 * HOUR]


def test_rows_carry_the_platform_frame_columns(world: dict) -> None:
    rows = _extract(world)
    ann_session = next(
        r for r in rows if r["trainer_id"] == world["ann"] and r["kind"] == "session"
    )
    assert ann_session["entry_key"].startswith("session:")
    assert ann_session["course"] == "First Aid"
    assert ann_session["venue_address"] == "1 Park Row"
    assert ann_session["event_url"] == "https://lms.test/e/E1"
    assert ann_session["start"].tzinfo is not None
    dentist = next(
        r for r in rows if r["kind"] == "unavailability" and r["trainer_id"] == world["ann"]
    )
    assert (dentist["origin"], dentist["reason"]) == ("platform", "Dentist")
    mirror = next(
        r for r in rows if r["trainer_id"] == world["bob"] and r["kind"] == "unavailability"
    )
    assert (mirror["origin"], mirror["source_item_id"]) == ("exchange", "AAMk-1")


def test_extraction_is_a_constant_number_of_queries(world: dict) -> None:
    statements: list[str] = []
    engine = db.get_engine(world["url"])

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        _extract(world)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len([q for q in statements if q.lstrip().upper().startswith("SELECT")]) == 2


def test_entries_by_key_tell_removed_from_moved(world: dict) -> None:
    with db.transaction(world["url"]) as s:
        session_ids = {ev.ref: [x.id for x in ev.sessions] for ev in s.query(TrainingEvent)}
        e1 = f"session:{session_ids['E1'][0]}"
        cancelled = f"session:{session_ids['E2'][0]}"
        dentist = s.query(Unavailability).filter_by(reason="Dentist").one()
        keys = {
            (world["ann"], e1),  # assigned, scheduled: live even outside the window
            (world["ann"], cancelled),  # event cancelled
            (world["bob"], f"session:{session_ids['E3'][0]}"),  # bob is not assigned to E3
            (world["ann"], f"unavailability:{dentist.id}"),
            (world["bob"], f"unavailability:{dentist.id}"),  # ann's, not bob's
            (world["ann"], "session:999999"),  # never existed
        }
        found = entries_by_key(s, keys)
    assert {(r["trainer_id"], r["entry_key"]) for r in found} == {
        (world["ann"], e1),
        (world["ann"], f"unavailability:{dentist.id}"),
    }
    session_row = next(r for r in found if r["entry_key"] == e1)
    assert session_row["kind"] == "session" and session_row["course"]  # a whole frame row
