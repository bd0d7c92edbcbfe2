"""Soak the sync: many rounds of disturbances, trouble and a clean sync, each checked.

Each round is the suite's soak round (`tests/soak/rounds.py`): 1–4 random disturbances
(platform edits, trainers' Outlook edits, lost links and cursors, and, in-process, the clock
moving on), a sync under trouble, a clean sync after which every invariant must hold, and a
second clean sync that must write nothing. Choices come from a seeded random generator, so a
run can be repeated with `--seed`.

Two ways of running the syncs:

- `--mode fast`: the flow's own cycle in this process on a frozen clock that the rounds move
  (minutes to days), against the EWS emulator or the Graph stand-in; the trouble is Exchange
  faults (HTTP 500s, dropped connections), a throttling storm, or a crash right after an
  Exchange write and before the store's commit. About a round a second.
- `--mode e2e`: each sync is `trainer-sync sync --provider Acme --json` in a child process,
  on a Prefect server this script starts on 127.0.0.1; the Exchange stand-in runs in its own
  process. Time passes for real (entries placed just beyond the window's ends cross it as the
  run goes on), and the trouble includes a SIGKILL of the sync's process group at a random
  moment, after which `trainer-sync provider unlock Acme` frees the provider. The oracle's
  "now" is the clean run's own (its `sync_runs.started_at`).

    .venv/bin/python benchmarks/soak.py --mode fast --backend ews --rounds 1000 --seed 1
    .venv/bin/python benchmarks/soak.py --mode e2e --backend ews --rounds 100 --seed 1

Prints one line per violation found, and a last line
`soak: R rounds, K kills, F fault rounds, S state wipes, V violations`. Exits 1 when a
violation was found.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess as sp
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from connectors.platform import db  # noqa: E402
from connectors.platform.models import SyncChange, SyncRun, Trainer  # noqa: E402
from emulators.ews import run_ews_emulator  # noqa: E402
from emulators.graph import run_graph_emulator  # noqa: E402
from tests.flows.exchange_sides import MASTER_PW, SECRET_ENV, EwsSide, GraphSide  # noqa: E402
from tests.soak.rounds import (  # noqa: E402
    InProcessSyncs,
    RoundReport,
    SyncResult,
    Syncs,
    run_round,
)
from tests.soak.world import PROVIDER, Clock, SoakWorld  # noqa: E402
from tests.stores import postgres_schema  # noqa: E402

T = TypeVar("T")

#: The frozen clock's start in fast mode: days before the clocks go forward in London, so the
#: window crosses the change as the rounds move the clock on.
START = datetime(2027, 3, 24, 9, 17, tzinfo=UTC)
WIPES = {"lose_links", "lose_cursors"}
FAULTS = {"faults", "throttling"}


class RandomChoose:
    """A round's choices from a seeded generator (the suite's state machine draws them from
    hypothesis instead)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def element(self, options: Sequence[T]) -> T:
        return self.rng.choice(list(options))


# --- stores and stand-ins -------------------------------------------------------------------


@contextlib.contextmanager
def new_store(base_url: str | None, folder: Path, name: str) -> Iterator[str]:
    """A migrated, empty store: a SQLite file in `folder`, or a new schema in the PostgreSQL
    database `base_url` (dropped afterwards)."""
    if base_url is None:
        url = f"sqlite:///{folder / f'{name}.db'}"
        db.upgrade(url)
        try:
            yield url
        finally:
            db.get_engine(url).dispose()
        return
    with postgres_schema(base_url, prefix="soak") as url:
        db.upgrade(url)
        yield url


@contextlib.contextmanager
def exchange_side(backend: str, subprocess: bool) -> Iterator[EwsSide | GraphSide]:
    if backend == "ews":
        with run_ews_emulator(subprocess=subprocess) as ews:
            yield EwsSide(ews)
    else:
        with run_graph_emulator(subprocess=subprocess) as graph:
            yield GraphSide(graph)


# --- the end-to-end runner ------------------------------------------------------------------


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """`prefect server start` on a free loopback port, with its own home and database."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    prefect = str(Path(sys.executable).with_name("prefect"))
    with open(home / "server.log", "w") as log:
        server = sp.Popen(
            [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=sp.STDOUT,
            start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api"
    try:
        import requests

        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{api}/health", timeout=2).ok:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"The Prefect server did not start; see {home / 'server.log'}")
            time.sleep(0.5)
        yield api
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except sp.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


class ChildProcessSyncs:
    """Each sync `trainer-sync sync` in its own process, as an operator or a scheduler runs it.

    Trouble: Exchange faults, a throttling storm, or a SIGKILL of the whole process group after
    a random delay (with the stand-in slowed, so that the kill often lands mid-write).
    """

    trouble = ("none", "faults", "throttling", "kill")

    def __init__(self, world: SoakWorld, env: dict[str, str], rng: random.Random) -> None:
        self.world, self.env, self.rng = world, env, rng
        self.cli = str(Path(sys.executable).with_name("trainer-sync"))
        self.kills = 0

    def _latest_start(self) -> datetime:
        with db.snapshot(self.world.url) as s:
            query = select(func.max(SyncRun.started_at)).where(SyncRun.trainer_id.is_(None))
            started = s.scalar(query)
        assert started is not None, "a finished sync left no run in the history"
        return started

    def sync(self, trouble: str) -> SyncResult | None:
        control = self.world.side.control
        if trouble == "faults":
            control.faults(error_rate=0.2, drop_rate=0.05)
        elif trouble == "throttling":
            control.throttling(**self.world.side.storm)
        elif trouble == "kill":
            control.faults(latency_ms=80, latency_jitter_ms=120)
        try:
            return self._run(trouble)
        finally:
            control.clear_faults()
            control.throttling(clear=True)

    def _run(self, trouble: str) -> SyncResult | None:
        command = [self.cli, "sync", "--provider", PROVIDER, "--json"]
        with tempfile.TemporaryFile(mode="w+") as errors:
            child = sp.Popen(
                command,
                env=self.env,
                stdout=sp.PIPE,
                stderr=errors,
                text=True,
                start_new_session=True,  # the kill takes the whole group, as an OOM kill would
            )
            if trouble == "kill":
                try:
                    child.wait(timeout=self.rng.uniform(0.5, 9.0))
                except sp.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.communicate()
                    self.kills += 1
                    self._unlock()
                    return None
            out, _ = child.communicate(timeout=900)
            errors.seek(0)
            if child.returncode not in (0, 1):
                if trouble != "none":
                    return None  # trouble may stop a sync; the clean one must not stop
                raise SystemExit(
                    f"`{' '.join(command)}` exited {child.returncode}: {errors.read()}"
                )
        records = json.loads(out)
        outcome = "completed" if child.returncode == 0 else "failed"
        return SyncResult(records, self._latest_start(), outcome)

    def _unlock(self) -> None:
        done = sp.run(
            [self.cli, "provider", "unlock", PROVIDER],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise SystemExit(f"unlock after a kill failed: {done.stdout}{done.stderr}")


# --- the soak -------------------------------------------------------------------------------


def diagnosis(world: SoakWorld, violations: list[str]) -> list[str]:
    """What a violation needs to be understood: the trainers' tagged items now, and their
    last runs and changes."""
    lines = []
    for name, mailbox in world.mailboxes.items():
        if not any(v.startswith(mailbox) for v in violations):
            continue
        for item in sorted(world.side.items(mailbox), key=lambda i: i["start"]):
            if item["tag"]:
                lines.append(
                    f"  {name} item …{item['id'][-10:]} {item['start']:%d %b %H:%M} "
                    f"tag {item['tag'][:40]}"
                )
        with db.snapshot(world.url) as s:
            trainer = s.scalars(select(Trainer).where(Trainer.email == mailbox)).one()
            runs = s.scalars(
                select(SyncRun)
                .where(SyncRun.trainer_id == trainer.id)
                .order_by(SyncRun.id.desc())
                .limit(4)
            ).all()
            for run in reversed(runs):
                lines.append(
                    f"  {name} run {run.id} {run.started_at:%H:%M:%S} {run.status} "
                    f"{run.counts} {run.error or ''}"[:300]
                )
                changes = s.scalars(select(SyncChange).where(SyncChange.run_id == run.id)).all()
                lines += [
                    f"    {c.side} {c.action} {c.reason} {c.entry_key} …{(c.item_id or '')[-10:]} "
                    f"{c.outcome}{' held' if c.held else ''}"
                    for c in changes
                ]
    return lines


class Tally:
    def __init__(self) -> None:
        self.rounds = self.violations = 0
        self.troubles: Counter[str] = Counter()
        self.disturbances: Counter[str] = Counter()

    def run(self, number: int, world: SoakWorld, choose: RandomChoose, syncs: Syncs) -> None:
        """One round, counted; a round that raises counts as a violation (nothing may)."""
        try:
            report = run_round(world, choose, syncs, clock_moves=isinstance(world.clock, Clock))
        except Exception as exc:  # the product must never raise out of a sync
            report = RoundReport(["?"], "?", [f"the round raised {exc!r}"[:2000]])
        self.rounds += 1
        self.troubles[report.trouble] += 1
        self.disturbances.update(report.disturbances)
        if report.violations:
            self.violations += len(report.violations)
            print(
                f"round {number}: after {report.disturbances} and a sync with {report.trouble}:",
                *(f"  {v}" for v in report.violations),
                *diagnosis(world, report.violations),
                sep="\n",
                flush=True,
            )

    def line(self, kills: int) -> str:
        wipes = sum(self.disturbances[d] for d in WIPES)
        faults = sum(self.troubles[t] for t in FAULTS)
        return (
            f"soak: {self.rounds} rounds, {kills} kills, {faults} fault rounds, "
            f"{wipes} state wipes, {self.violations} violations"
        )

    def mix(self) -> str:
        troubles = ", ".join(f"{k} {v}" for k, v in sorted(self.troubles.items()))
        disturbances = ", ".join(f"{k} {v}" for k, v in self.disturbances.most_common())
        return f"troubles: {troubles}\ndisturbances: {disturbances}"


def soak_fast(args: argparse.Namespace, rng: random.Random, folder: Path) -> str:
    tally = Tally()
    choose = RandomChoose(rng)
    with exchange_side(args.backend, subprocess=False) as side:
        number = 0
        while number < args.rounds:
            # A new world now and then: its calendars start small and grow for a while.
            name = f"world-{number}"
            with new_store(args.database_url, folder, name) as url:
                world = SoakWorld.create(url, side, Clock(START))
                world.populate(choose)
                syncs = InProcessSyncs(world)
                for _ in range(min(args.rounds_per_world, args.rounds - number)):
                    number += 1
                    tally.run(number, world, choose, syncs)
                    if number % 50 == 0:
                        print(f"... {tally.line(tally.troubles['crash'])}", flush=True)
    print(tally.mix())
    return tally.line(tally.troubles["crash"])


def soak_e2e(args: argparse.Namespace, rng: random.Random, folder: Path) -> str:
    tally = Tally()
    choose = RandomChoose(rng)
    with (
        prefect_server(folder) as api,
        exchange_side(args.backend, subprocess=True) as side,
        new_store(args.database_url, folder, "world") as url,
    ):
        env = {
            **os.environ,
            "PREFECT_API_URL": api,
            "PREFECT_HOME": str(folder),
            "TRAINER_SYNC_DATABASE_URL": url,
            SECRET_ENV: MASTER_PW,
        }
        world = SoakWorld.create(url, side, lambda: datetime.now(UTC))
        world.populate(choose)
        syncs = ChildProcessSyncs(world, env, rng)
        started = time.monotonic()
        for number in range(1, args.rounds + 1):
            tally.run(number, world, choose, syncs)
            if number % 10 == 0:
                minutes = (time.monotonic() - started) / 60
                print(f"... {tally.line(syncs.kills)} ({minutes:.0f} min)", flush=True)
    print(tally.mix())
    return tally.line(syncs.kills)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("fast", "e2e"), default="fast")
    parser.add_argument("--backend", choices=("ews", "graph"), default="ews")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rounds-per-world", type=int, default=50, help="fast mode: rounds before a new world"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL database to make the stores in (a new schema each); default SQLite",
    )
    args = parser.parse_args()
    # Stopped with SIGTERM, the soak still stops its servers and drops its stores.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("soak: stopped"))
    folder = Path(tempfile.mkdtemp(prefix="trainer-sync-soak-"))
    started = time.monotonic()
    try:
        soak = soak_fast if args.mode == "fast" else soak_e2e
        line = soak(args, random.Random(args.seed), folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    print(f"{args.mode} on {args.backend}, seed {args.seed}, {minutes:.1f} min")
    print(line)
    sys.exit(1 if not line.endswith(" 0 violations") else 0)


if __name__ == "__main__":
    main()
