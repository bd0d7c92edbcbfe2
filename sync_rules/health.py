"""A trainer's health across runs: what one more run makes of it, and how trainers are ordered
so that the ones needing attention come first.

A run's status for a trainer is `synced` or `idle` (in step: a success), `held` (the
mass-deletion guard kept a plan back: not a failure, but not in step either) or `failed`.
Idle cycles leave no history rows, so the running counts live here rather than being
derived from the history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

#: Run statuses that leave a trainer in step.
IN_STEP = ("synced", "idle")
#: The order a health view lists trainers in: problems first.
ATTENTION = ("failed", "held", "never synced", "synced", "idle")
#: An error as the table shows it: its first sentence, this long at most.
SHORT_ERROR = 200


@dataclass(frozen=True)
class Health:
    """What the store keeps of a trainer's runs."""

    last_status: str
    last_run_at: datetime
    last_success_at: datetime | None = None
    failures_in_a_row: int = 0
    last_error: str | None = None


def after_run(before: Health | None, status: str, error: str | None, at: datetime) -> Health | None:
    """The trainer's health after a run that ended in `status`; None when the run says
    nothing of its health (a dry run's `planned`, or a `disabled` link)."""
    if status not in (*IN_STEP, "held", "failed"):
        return None
    base = before or Health(last_status=status, last_run_at=at)
    if status == "failed":
        return replace(
            base,
            last_status=status,
            last_run_at=at,
            failures_in_a_row=base.failures_in_a_row + 1,
            last_error=error or base.last_error,
        )
    return replace(
        base,
        last_status=status,
        last_run_at=at,
        failures_in_a_row=0,
        last_success_at=at if status in IN_STEP else base.last_success_at,
        last_error=None,
    )


def attention_order(status: str, failures_in_a_row: int, trainer: str) -> tuple[int, int, str]:
    """Sort key: failed trainers first (the longest failing first), then held, never synced,
    synced and idle ones; by email within each."""
    rank = ATTENTION.index(status) if status in ATTENTION else len(ATTENTION)
    return (rank, -failures_in_a_row, trainer.lower())


def short_error(error: str | None, limit: int = SHORT_ERROR) -> str:
    """The first sentence of an error (what went wrong; the fix follows it in the full text),
    on one line and at most `limit` characters."""
    if not error:
        return ""
    line = " ".join(error.split())
    end = line.find(". ")
    first = line[: end + 1] if 0 < end < limit else line
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"
