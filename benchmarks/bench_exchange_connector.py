"""Requests and time the Exchange connector spends per trainer, against the EWS emulator.

Starts the emulator in its own process, then measures, through the connector:
- the idle check (changed_since on an untouched calendar) for many trainers, in parallel;
- a read of a window of N items;
- creating N items in one apply (batches of 100), and their deletion.
Request counts come from the emulator's counters.

    .venv/bin/python benchmarks/bench_exchange_connector.py [--trainers 50] [--items 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from concurrent.futures import ThreadPoolExecutor

from connectors.exchange import ExchangeAction, ServiceConfig, connect
from emulators.ews import run_ews_emulator

MASTER, PASSWORD = "master@bench.test", "bench-master-pw"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainers", type=int, default=50)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    os.environ["BENCH_EXCHANGE_SECRET"] = PASSWORD

    with run_ews_emulator(subprocess=True) as ews:
        control = ews.control
        control.add_account(MASTER, PASSWORD)
        trainers = [f"trainer{i}@bench.test" for i in range(args.trainers)]
        for mailbox in trainers:
            control.add_account(mailbox, "pw")
            control.grant(owner=mailbox, grantee=MASTER, kind="delegate", calendar_role="Editor")
        conn = connect(
            ServiceConfig(
                name="bench",
                endpoint=ews.url,
                username=MASTER,
                secret_ref="env:BENCH_EXCHANGE_SECRET",
                server_version="15.2",
                max_connections=args.threads,
            )
        )

        def report(label: str, started: float, unit_count: int, unit: str) -> None:
            elapsed = time.monotonic() - started
            counters = control.counters()
            ops = ", ".join(f"{k} {v}" for k, v in sorted(counters["by_operation"].items()))
            print(
                f"{label:<34} {elapsed:7.2f} s  {counters['total'] / unit_count:6.2f} "
                f"requests per {unit}  ({ops})"
            )
            control.reset_counters()

        with ThreadPoolExecutor(args.threads) as pool:
            first = pool.map(lambda m: conn.changed_since(m, None), trainers)
            cursors = dict(zip(trainers, first, strict=True))
            control.reset_counters()
            started = time.monotonic()
            idle = list(pool.map(lambda m: conn.changed_since(m, cursors[m].cursor), trainers))
            assert not any(c.changed for c in idle)
            report(f"idle check x{len(trainers)} trainers", started, len(trainers), "trainer")

        mailbox = trainers[0]
        base = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
        actions = [
            ExchangeAction(
                "create",
                f"entry-{i}",
                subject=f"Session {i}",
                body="Joining instructions",
                start=base + dt.timedelta(hours=3 * i),
                end=base + dt.timedelta(hours=3 * i + 1),
                timezone="Europe/Amsterdam",
                content_hash=f"h{i}",
            )
            for i in range(args.items)
        ]
        control.reset_counters()
        started = time.monotonic()
        results = conn.apply(mailbox, actions)
        assert all(r.ok for r in results)
        report(f"create {args.items} items", started, args.items, "item")

        window = (base - dt.timedelta(days=1), base + dt.timedelta(hours=3 * args.items + 24))
        started = time.monotonic()
        rows = conn.read_window(mailbox, *window)
        assert len(rows) == args.items
        report(f"read of {args.items} items", started, args.items, "item")

        deletes = [ExchangeAction("delete", r.tag_key or "", item_id=r.item_id) for r in rows]
        started = time.monotonic()
        assert all(r.ok for r in conn.apply(mailbox, deletes))
        report(f"delete {args.items} items", started, args.items, "item")
        conn.close()


if __name__ == "__main__":
    main()
