"""Benchmark a whole provider run: a first (busy) cycle, then an idle one.

Seeds N trainers (a third each out/in/both) with S sessions each and O own Outlook
appointments on the in/both trainers, starts the EWS emulator in its own process, and runs
the `sync-provider` flow twice on Prefect's ephemeral API. Prints wall time, Exchange
requests per trainer, and the process's peak RSS.

    .venv/bin/python benchmarks/bench_sync_cycle.py --trainers 1000 --sessions 20 --own 5
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DOMAIN = "bench.test"
MASTER = f"master@{DOMAIN}"


def _seed_store(url: str, ews_url: str, trainers: int, sessions: int) -> list[str]:
    from connectors.exchange.config import ServiceConfig
    from connectors.platform import configuration, db
    from connectors.platform.models import (
        Course,
        EventSession,
        EventTrainer,
        Trainer,
        TrainerLink,
        TrainingEvent,
        Venue,
    )

    db.upgrade(url)
    start = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    emails = [f"t{i:05d}@{DOMAIN}" for i in range(trainers)]
    with db.transaction(url) as s:
        provider = configuration.add_provider(s, "Bench", True)
        service = configuration.add_service(
            s,
            "Bench",
            ServiceConfig(
                name="bench-ews",
                endpoint=ews_url,
                username=MASTER,
                secret_ref="env:BENCH_PW",
                server_version="15.2",
                max_connections=8,
            ),
        )
        course = Course(provider_id=provider.id, name="Course")
        venue = Venue(provider_id=provider.id, name="Venue", address="1 Road")
        s.add_all([course, venue])
        s.flush()
        for i, email in enumerate(emails):
            t = Trainer(provider_id=provider.id, name=f"T{i}", email=email)
            s.add(t)
            s.flush()
            s.add(
                TrainerLink(
                    trainer_id=t.id,
                    service_id=service.id,
                    calendar_enabled=True,
                    direction=("out", "in", "both")[i % 3],
                    mailbox=email,
                )
            )
            event = TrainingEvent(
                provider_id=provider.id,
                ref=f"E{i}",
                course_id=course.id,
                venue_id=venue.id,
                event_url=f"https://lms.test/e/{i}",
            )
            event.sessions = [
                EventSession(
                    start=start + timedelta(days=d + 1), end=start + timedelta(days=d + 1, hours=3)
                )
                for d in range(sessions)
            ]
            event.assignments = [EventTrainer(trainer_id=t.id)]
            s.add(event)
    return emails


def _seed_exchange(ews, emails: list[str], own: int) -> None:
    from exchangelib import (
        DELEGATE,
        Account,
        Build,
        CalendarItem,
        Configuration,
        Credentials,
        Version,
    )

    control = ews.control
    control.add_account(MASTER, "master-pw")
    start = datetime.now(UTC).replace(hour=14, minute=0, second=0, microsecond=0)
    for i, email in enumerate(emails):
        control.add_account(email, "pw")
        control.grant(owner=email, grantee=MASTER, kind="delegate", calendar_role="Editor")
        if i % 3 == 0 or not own:
            continue
        account = Account(
            primary_smtp_address=email,
            config=Configuration(
                service_endpoint=ews.url,
                credentials=Credentials(email, "pw"),
                version=Version(build=Build(15, 2, 0, 0)),
            ),
            autodiscover=False,
            access_type=DELEGATE,
        )
        account.bulk_create(
            folder=account.calendar,
            items=[
                CalendarItem(
                    subject="Own",
                    start=start + timedelta(days=d + 1),
                    end=start + timedelta(days=d + 1, hours=1),
                )
                for d in range(own)
            ],
        )


def _cycle(label: str, ews, trainers: int, url: str) -> None:
    from flows.sync import sync_provider
    from tasks.resources import Resources, using

    ews.control.reset_counters()
    began = time.perf_counter()
    with using(Resources.from_environment(database_url_override=url)):
        state = sync_provider(provider="Bench", return_state=True)
    elapsed = time.perf_counter() - began
    requests = ews.control.counters()["total"]
    print(
        f"{label}: {elapsed:.1f} s, {requests} Exchange requests "
        f"({requests / trainers:.2f} per trainer) — {state.message}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainers", type=int, default=300)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--own", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ["BENCH_PW"] = "master-pw"
    from emulators.ews import run_ews_emulator

    with tempfile.TemporaryDirectory() as tmp, run_ews_emulator(subprocess=True) as ews:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        emails = _seed_store(url, ews.url, args.trainers, args.sessions)
        _seed_exchange(ews, emails, args.own)
        print(
            f"seeded {args.trainers} trainers × {args.sessions} sessions "
            f"(+{args.own} own items on in/both) in {time.perf_counter() - t0:.1f} s"
        )
        _cycle("first cycle (everything new)", ews, args.trainers, url)
        _cycle("idle cycle", ews, args.trainers, url)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the flow process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
