"""Clashes in a run: found once the mailboxes are read, stored with the run's history, each
announced the first time it is seen, and listed on the run's page.

What counts as a clash, and why only times and free/busy status appear anywhere:
docs/sync-semantics.md §Clashes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from sqlalchemy.orm import Session

from connectors.platform.state import load_clashes, save_clashes
from sync_rules.clashes import (
    KNOWN_COLUMNS,
    ClashChanges,
    clash_messages,
    find_clashes,
    local_time,
    reconcile,
    session_text,
)
from sync_rules.text import plural
from tasks.context import ProviderRun
from tasks.events import CLASH_FOUND, emit, trainer_resource
from tasks.exchange import Extraction, exchange_frame, read_trainer_ids
from tasks.runtime import run_logger

#: The clashes table a run publishes, in the order an operator reads it.
TABLE_COLUMNS = ("trainer", "session", "busy_from", "busy_to", "shown_as", "first_seen", "new")


@dataclass(frozen=True)
class FoundClashes:
    """The clashes a run found, and the trainers it judged: those whose mailbox it read, and
    those whose calendar sync is off (which have none). The others keep their stored ones."""

    found: pd.DataFrame
    judged: frozenset[int]


@task(name="find-clashes", cache_policy=NO_CACHE, timeout_seconds=600)
def find_run_clashes(
    run: ProviderRun, platform: pd.DataFrame, extractions: list[Extraction]
) -> FoundClashes:
    """Compare the sessions of every trainer that was read with their own blocking Outlook
    items, in one vectorised pass over the provider (`sync_rules.clashes.find_clashes`)."""
    read_ids = read_trainer_ids(extractions)
    disabled = {o.trainer.trainer_id for e in extractions for o in e.outcomes
                if o.status == "disabled"}  # fmt: skip
    found = find_clashes(
        run.trainers_frame(read_ids), platform, exchange_frame(extractions), run.rules, run.now
    )
    return FoundClashes(found, frozenset(read_ids | disabled))


def known_clashes(session: Session, trainer_ids: Sequence[int]) -> pd.DataFrame:
    """The stored clashes of these trainers, resolved ones included, as a frame."""
    return pd.DataFrame(load_clashes(session, trainer_ids), columns=list(KNOWN_COLUMNS))


def compare(run: ProviderRun, known: pd.DataFrame, found: FoundClashes) -> ClashChanges:
    """What the run's clashes change against the stored ones."""
    return reconcile(known, found.found, set(found.judged), run.now)


def store_clashes(session: Session, run: ProviderRun, changes: ClashChanges) -> None:
    """Write the changes in the caller's transaction (the run's history)."""
    save_clashes(
        session,
        _records(changes.new),
        _records(changes.ongoing),
        changes.resolved,
        run.now,
    )


def announce(run: ProviderRun, changes: ClashChanges) -> int:
    """Send `trainer-sync.clash.found` for each clash seen for the first time, and log it;
    call it once the clashes are stored, so a clash is announced once. Returns how many."""
    new = changes.new
    if new.empty:
        return 0
    emails = _emails(run, new)
    log = run_logger()
    tz = run.rules.timezone
    for clash, email, message in zip(
        new.itertuples(index=False), emails, clash_messages(new, emails, tz), strict=True
    ):
        log.info(message)
        emit(
            CLASH_FOUND,
            trainer_resource(run.provider, email),
            message,
            provider=run.provider,
            trainer=email,
            entry_key=clash.entry_key,
            course=None if pd.isna(clash.course) else str(clash.course),
            session_start=clash.session_start.isoformat(),
            session_end=clash.session_end.isoformat(),
            busy_start=clash.busy_start.isoformat(),
            busy_end=clash.busy_end.isoformat(),
            show_as=clash.show_as,
        )
    log.info("%s: %s found.", run.provider, plural(len(new), "new clash"))
    return len(new)


def publish(run: ProviderRun, changes: ClashChanges, key: str | None, scope: str) -> None:
    """The run's clashes table: every unresolved clash of the run's trainers after it,
    earliest session first, the first-seen ones marked `new`."""
    create_table_artifact(
        key=f"{key}-clashes" if key else None,
        table=clash_table(run, changes.current),
        description=(
            f"Sessions on time the trainer's own Outlook calendar shows as taken, after the "
            f"latest sync of {scope} (times in {run.rules.timezone})."
        ),
    )


def clash_table(run: ProviderRun, current: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of the clashes table (TABLE_COLUMNS), earliest session first."""
    if current.empty:
        return []
    shown = current.sort_values(["session_start", "trainer_id", "busy_start"], kind="stable")
    tz = run.rules.timezone
    columns = {
        "trainer": _emails(run, shown).to_numpy(dtype=object),
        "session": session_text(shown, tz),
        "busy_from": local_time(shown["busy_start"], tz),
        "busy_to": local_time(shown["busy_end"], tz),
        "shown_as": shown["show_as"].to_numpy(dtype=object),
        "first_seen": local_time(shown["first_seen_at"], tz),
        "new": ["new" if flag else "" for flag in shown["new"]],
    }
    rows: list[dict[str, Any]] = pd.DataFrame(columns).to_dict("records")
    return rows


def _emails(run: ProviderRun, clashes: pd.DataFrame) -> pd.Series:
    by_id = {t.trainer_id: t.email for t in run.trainers}
    return clashes["trainer_id"].map(by_id).fillna("").astype(str)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Frame rows as plain values for the store: times as datetimes, missing as None."""
    plain = frame.astype(object).where(frame.notna(), None)
    rows: list[dict[str, Any]] = plain.to_dict("records")
    for row in rows:
        for name, value in row.items():
            if isinstance(value, pd.Timestamp):
                row[name] = value.to_pydatetime()
        if row.get("id") is not None:
            row["id"] = int(row["id"])
        row["trainer_id"] = int(row["trainer_id"])
        row["busy_all_day"] = bool(row["busy_all_day"])
    return rows
