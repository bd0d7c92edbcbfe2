"""`make demo`: a whole sync, start to finish, against the local EWS emulator.

1. starts the EWS emulator on 127.0.0.1:8765 with its state in `.demo/` (or reuses one
   that `make ui` left running);
2. seeds a provider, its master account with delegate grants and three trainers (one per
   direction) from `demo/trainers.csv`, and courses, venues and sessions from a generated
   events CSV, through the same code as `trainer-sync trainer import` / `events import`;
3. enters the trainers' own Outlook appointments (one recurring) through EWS, as the
   trainers themselves;
4. runs the `sync-provider` flow on Prefect's ephemeral API and prints what was created
   where and why. On the first run it then plays the seed's FAQ — Ann deletes a course in
   Outlook and edits another — and syncs again to show both put back.

Running it again changes nothing. Everything lives in `.demo/`; `make clean` removes it.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path.cwd()
DEMO_DIR = ROOT / ".demo"
SEED_DIR = Path(__file__).resolve().parent.parent / "demo"
PORT = 8765
DOMAIN = "demo-training.test"
PROVIDER = "Demo Training"
SERVICE = "demo-ews"
MASTER = f"exchange-sync@{DOMAIN}"
PASSWORD_ENV = "TRAINER_SYNC_DEMO_PASSWORD"
MASTER_PASSWORD = "demo-master-pw"
TRAINER_PASSWORD = "demo-trainer-pw"
TRAINERS = ("ann", "ben", "cat")


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _emulator_running(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/_control/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def _emulator() -> Iterator[Any]:
    """The demo's EWS emulator: reuse a running one on the demo port, else start one."""
    from emulators.ews import run_ews_emulator
    from emulators.ews.control import ControlClient

    base = f"http://127.0.0.1:{PORT}"
    if _emulator_running(base):
        print(f"Using the EWS emulator already running at {base}.")
        yield base + "/EWS/Exchange.asmx", ControlClient(base)
        return
    state = DEMO_DIR / "ews-state.json"
    with run_ews_emulator(port=PORT, state_file=state, subprocess=True) as ews:
        print(f"Started the EWS emulator at {ews.url} (mailboxes kept in {state}).")
        yield ews.url, ews.control


def _anchor() -> tuple[date, bool]:
    """The Monday the demo's courses are planned from, fixed at the first run."""
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
        return (
            datetime(monday.year, monday.month, monday.day, hour, tzinfo=UTC)
            .__add__(timedelta(days=day))
            .isoformat()
        )

    links = "https://lms.demo-training.test/events/{ref}"
    rows = [
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
            "Fire Safety Awareness",
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
    ]
    path = DEMO_DIR / "events.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(EVENT_COLUMNS)
        for ref, course, venue, address, sessions, trainers in rows:
            url = links.format(ref=ref)
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


def _seed_store(url: str, ews_url: str) -> None:
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
        counts = import_trainers(session, SEED_DIR / "trainers.csv")
        provider = configuration.get_provider(session, PROVIDER)
        events = import_events(session, provider, _events_csv(_anchor()[0]))
    print(f"Trainers: {counts['created']} created, {counts['updated']} already there.")
    print(f"Events: {events['events_created']} created, {events['events_updated']} updated.")


def _seed_exchange(control: Any) -> None:
    """Accounts and delegate grants: what the provider's IT department sets up."""
    existing = set(control.accounts())
    if MASTER not in existing:
        control.add_account(MASTER, MASTER_PASSWORD)
    for name in TRAINERS:
        mailbox = f"{name}@{DOMAIN}"
        if mailbox not in existing:
            control.add_account(mailbox, TRAINER_PASSWORD)
            control.grant(owner=mailbox, grantee=MASTER, kind="delegate", calendar_role="Editor")


def _outlook(ews_url: str, mailbox: str) -> Any:
    from exchangelib import DELEGATE, Account, Build, Configuration, Credentials, Version

    return Account(
        primary_smtp_address=mailbox,
        config=Configuration(
            service_endpoint=ews_url,
            credentials=Credentials(mailbox, TRAINER_PASSWORD),
            version=Version(build=Build(15, 2, 0, 0)),
        ),
        autodiscover=False,
        access_type=DELEGATE,
    )


def _seed_outlook(ews_url: str, monday: date) -> None:
    """The trainers' own appointments, entered in Outlook as themselves."""
    from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
    from exchangelib.recurrence import Recurrence, WeeklyPattern

    london = EWSTimeZone("Europe/London")

    def when(day: int, hour: int) -> EWSDateTime:
        d = monday + timedelta(days=day)
        return EWSDateTime(d.year, d.month, d.day, hour, tzinfo=london)

    wanted = {
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
            dict(
                subject="Family wedding",
                start=when(4, 0),
                end=when(5, 0),
                is_all_day=True,
                location="York",
                body="Bring the gift",
            ),
        ],
    }
    for name, items in wanted.items():
        account = _outlook(ews_url, f"{name}@{DOMAIN}")
        have = {i.subject for i in account.calendar.all().only("subject")}
        for fields in items:
            if fields["subject"] not in have:
                if fields.get("is_all_day"):
                    fields = {
                        **fields,
                        "start": fields["start"].date(),
                        "end": fields["end"].date(),
                    }
                CalendarItem(folder=account.calendar, **fields).save()
                print(f"{name}@{DOMAIN} added {fields['subject']!r} in Outlook.")


def _sync(title: str, url: str) -> list[dict[str, Any]]:
    from flows.sync import sync_provider
    from tasks.resources import Recorder, Resources, using

    _say(title)
    recorder = Recorder()
    with using(Resources.from_environment(database_url_override=url, observer=recorder)):
        state = sync_provider(provider=PROVIDER, return_state=True)
    print(state.message)
    if PROVIDER not in recorder.records:
        raise SystemExit(f"The sync failed: {state.message}")
    return recorder.records[PROVIDER]


def _print_changes(url: str, since: datetime) -> None:
    from connectors.platform import db
    from connectors.platform.state import change_history
    from trainer_sync.cli.output import print_table

    with db.transaction(url) as session:
        rows = [r for r in change_history(session, limit=500) if r["at"] >= since]
    if not rows:
        print("No changes: both sides were already in sync.")
        return
    rows.sort(key=lambda r: (r["trainer"], r["side"], r["reason"], r["summary"] or ""))
    print_table(
        "What changed where, and why",
        ["trainer", "side", "action", "reason", "outcome", "summary"],
        rows,
    )


def _faq(ews_url: str) -> None:
    """The seed's FAQ: a trainer deletes a course from Outlook and edits another."""
    account = _outlook(ews_url, f"ann@{DOMAIN}")
    items = sorted(account.calendar.all(), key=lambda i: i.start)
    _say("Ann deletes her first course in Outlook and renames her second")
    items[0].delete()
    items[1].subject = "Not going"
    items[1].save(update_fields=["subject"])
    print(f"Deleted {items[0].subject!r}; renamed {items[1].start:%a %d %b} to 'Not going'.")


def main() -> int:
    DEMO_DIR.mkdir(exist_ok=True)
    os.environ.setdefault(PASSWORD_ENV, MASTER_PASSWORD)
    url = f"sqlite:///{DEMO_DIR / 'trainer_sync.db'}"
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    monday, first_run = _anchor()
    with _emulator() as (ews_url, control):
        _say("Seeding the platform and Exchange")
        _seed_exchange(control)
        _seed_store(url, ews_url)
        _seed_outlook(ews_url, monday)

        since = datetime.now(UTC)
        _sync("Syncing the provider", url)
        _print_changes(url, since)
        if first_run:
            _faq(ews_url)
            since = datetime.now(UTC)
            _sync("Syncing again: the platform owns its items", url)
            _print_changes(url, since)
    _say("Done")
    print(
        "Run `make demo` again: nothing changes. `make ui` shows the same runs in the Prefect UI."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
