"""Throughput of the EWS emulator: FindItem/GetItem requests a second, driven by exchangelib.

Starts the emulator in its own process, seeds a trainer calendar, then lets a few threads call
FindItem (CalendarView) and GetItem through exchangelib for a fixed time and prints the rate
the server reports in its request counters.

    .venv/bin/python benchmarks/bench_ews_emulator.py [--seconds 10] [--threads 4] [--items 20]
"""

from __future__ import annotations

import argparse
import threading
import time

from exchangelib import (
    BASIC,
    DELEGATE,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    Version,
)
from exchangelib.protocol import FailFast

from emulators.ews import run_ews_emulator

MASTER, TRAINER = "master@contoso.test", "trainer1@contoso.test"
TZ = EWSTimeZone("Europe/London")


def make_account(url: str, connections: int) -> Account:
    """The master account acting as delegate on the trainer's calendar."""
    config = Configuration(
        service_endpoint=url,
        credentials=Credentials(MASTER, "pw"),
        auth_type=BASIC,
        version=Version(build=Build(15, 2, 0, 0)),
        retry_policy=FailFast(),
        max_connections=connections,
    )
    return Account(TRAINER, config=config, autodiscover=False, access_type=DELEGATE)


def main() -> None:
    """Run the benchmark and print requests/second."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--items", type=int, default=20)
    args = p.parse_args()

    with run_ews_emulator(subprocess=True) as ews:
        ews.control.add_account(MASTER, "pw")
        ews.control.add_account(TRAINER, "pw1")
        ews.control.grant(owner=TRAINER, grantee=MASTER, kind="delegate", calendar_role="Editor")
        acc = make_account(ews.url, args.threads)
        start = EWSDateTime(2026, 5, 4, 9, tzinfo=TZ)
        ids = acc.bulk_create(
            folder=acc.calendar,
            items=[
                CalendarItem(
                    subject=f"Session {n}",
                    start=start.replace(day=4 + n % 20),
                    end=start.replace(day=4 + n % 20, hour=10),
                )
                for n in range(args.items)
            ],
        )
        # A one-day window and a few fields: like a sync checking one day of one trainer.
        window = (EWSDateTime(2026, 5, 4, tzinfo=TZ), EWSDateTime(2026, 5, 5, tzinfo=TZ))
        calendar = acc.calendar
        ews.control.reset_counters()
        stop = time.monotonic() + args.seconds
        failures: list[BaseException] = []

        def worker(n: int) -> None:
            i = n
            try:
                while time.monotonic() < stop:
                    if i % 2:
                        list(calendar.view(*window).only("subject", "start", "end"))
                    else:
                        list(acc.fetch(ids=[ids[i % len(ids)]], only_fields=["subject", "start"]))
                    i += 1
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        began = time.monotonic()
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.monotonic() - began
        report = ews.control.counters()
        ops = report["by_operation"]
        done = ops.get("FindItem", 0) + ops.get("GetItem", 0)
        print(
            f"{done} FindItem/GetItem requests in {elapsed:.1f} s with {args.threads} threads: "
            f"{done / elapsed:.0f} requests/second"
        )
        if failures:
            print(f"{len(failures)} worker(s) failed, first: {failures[0]!r}")
            raise SystemExit(1)


if __name__ == "__main__":
    main()
