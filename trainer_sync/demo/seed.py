"""What the demo starts from: the platform's provider, trainers and courses, the Exchange
organisation's accounts and grants, and the trainers' own Outlook appointments."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from trainer_sync.demo.cast import (
    DEMO_DIR,
    MASTER,
    MASTER_PASSWORD,
    PASSWORD_ENV,
    PROVIDER,
    SEED_DIR,
    SERVICE,
    TRAINER_PASSWORD,
    TRAINERS,
    mailbox,
)
from trainer_sync.demo.outlook import outlook

LINKS = "https://lms.demo-training.test/events/{ref}"
#: (event ref, course, venue, address, sessions as (day after the Monday, start hour, end
#: hour), trainers). The half-day course's brackets are part of its name, as a platform
#: would have it: they must reach Outlook and the printout as they are.
EVENTS = (
    (
        "FA-101",
        "First Aid at Work",
        "Leeds Training Centre",
        "1 Park Row, Leeds LS1 5AB",
        [(0, 9, 17), (1, 9, 17)],
        "ann@demo-training.test;cat@demo-training.test",
    ),
    (
        "FS-201",
        "Fire Safety Awareness [half day]",
        "Manchester Hub",
        "20 Deansgate, Manchester M3 1AB",
        [(2, 9, 13)],
        "ann@demo-training.test",
    ),
    (
        "MH-301",
        "Mental Health First Aid",
        "Leeds Training Centre",
        "1 Park Row, Leeds LS1 5AB",
        [(8, 9, 17)],
        "cat@demo-training.test",
    ),
    ("GDPR-11", "GDPR Essentials", "Online", "", [(3, 10, 12)], "ben@demo-training.test"),
)


def anchor() -> tuple[date, bool]:
    """The Monday the demo's courses are planned from, fixed at the first run, and whether
    this is the first run."""
    path = DEMO_DIR / "anchor"
    if path.exists():
        return date.fromisoformat(path.read_text().strip()), False
    today = datetime.now(UTC).date()
    monday = today + timedelta(days=7 - today.weekday())
    path.write_text(monday.isoformat())
    return monday, True


def _events_csv(monday: date) -> Path:
    from connectors.platform.csv_import import EVENT_COLUMNS

    def at(day: int, hour: int) -> str:
        midnight = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        return (midnight + timedelta(days=day, hours=hour)).isoformat()

    path = DEMO_DIR / "events.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(EVENT_COLUMNS)
        for ref, course, venue, address, sessions, trainers in EVENTS:
            url = LINKS.format(ref=ref)
            for day, start, end in sessions:
                writer.writerow(
                    [
                        ref,
                        course,
                        venue,
                        address,
                        "scheduled",
                        at(day, start),
                        at(day, end),
                        trainers,
                        url,
                        f"{url}/joining-delegates",
                        f"{url}/joining-trainers",
                    ]
                )
    return path


def seed_store(url: str, ews_url: str, monday: date) -> None:
    """The provider, its master account, trainers and events, as an administrator adds them."""
    from connectors.exchange.config import ServiceConfig
    from connectors.platform import configuration, db
    from connectors.platform.csv_import import import_events, import_trainers

    db.upgrade(url)
    with db.transaction(url) as session:
        names = {p.name for p in configuration.list_providers(session)}
        if PROVIDER not in names:
            configuration.add_provider(session, PROVIDER, sync_engine_enabled=True)
            configuration.add_service(
                session,
                PROVIDER,
                ServiceConfig(
                    name=SERVICE,
                    endpoint=ews_url,
                    username=MASTER,
                    secret_ref=f"env:{PASSWORD_ENV}",
                    server_version="15.2",
                ),
            )
            print(f"Created provider {PROVIDER!r} with master account {MASTER}.")
        service = configuration.get_service(session, SERVICE)
        if service.endpoint != ews_url:
            # The emulator may listen on another port than last time (the usual one taken).
            service.endpoint = ews_url
            print(f"Pointed service {SERVICE!r} at {ews_url}.")
        counts = import_trainers(session, SEED_DIR / "trainers.csv")
        provider = configuration.get_provider(session, PROVIDER)
        events = import_events(session, provider, _events_csv(monday))
    print(f"Trainers: {counts['created']} created, {counts['updated']} already there.")
    print(f"Events: {events['events_created']} created, {events['events_updated']} updated.")


def seed_exchange(control: Any) -> None:
    """Accounts and delegate grants: what the provider's IT department sets up."""
    existing = set(control.accounts())
    if MASTER not in existing:
        control.add_account(MASTER, MASTER_PASSWORD)
    for name in TRAINERS:
        if mailbox(name) not in existing:
            control.add_account(mailbox(name), TRAINER_PASSWORD)
            control.grant(
                owner=mailbox(name), grantee=MASTER, kind="delegate", calendar_role="Editor"
            )


def _own_appointments(monday: date) -> dict[str, list[dict[str, Any]]]:
    """Per trainer, the appointments they keep in Outlook themselves."""
    from exchangelib import EWSDateTime, EWSTimeZone
    from exchangelib.recurrence import Recurrence, WeeklyPattern

    london = EWSTimeZone("Europe/London")

    def when(day: int, hour: int) -> EWSDateTime:
        d = monday + timedelta(days=day)
        return EWSDateTime(d.year, d.month, d.day, hour, tzinfo=london)

    wedding_day = monday + timedelta(days=4)
    return {
        "ben": [
            dict(
                subject="Dentist — Dr Patel",
                start=when(1, 14),
                end=when(1, 15),
                location="Smile Clinic",
                body="Crown fitting",
            ),
            dict(
                subject="Team stand-up",
                start=when(0, 8),
                end=when(0, 9),
                recurrence=Recurrence(
                    pattern=WeeklyPattern(interval=1, weekdays=[1]), start=monday, number=4
                ),
            ),
        ],
        "cat": [
            # One day: exchangelib takes an all-day item's end as its last day, inclusive.
            dict(
                subject="Family wedding",
                start=wedding_day,
                end=wedding_day,
                is_all_day=True,
                location="York",
                body="Bring the gift",
            ),
        ],
    }


def seed_outlook(ews_url: str, monday: date) -> None:
    """The trainers' own appointments, entered in Outlook as themselves."""
    from exchangelib import CalendarItem

    for name, items in _own_appointments(monday).items():
        account = outlook(ews_url, mailbox(name))
        have = {i.subject for i in account.calendar.all().only("subject")}
        for fields in items:
            if fields["subject"] not in have:
                CalendarItem(folder=account.calendar, **fields).save()
                print(f"{mailbox(name)} added {fields['subject']!r} in Outlook.")
