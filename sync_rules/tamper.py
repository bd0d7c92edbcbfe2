"""The tamper report: which trainers override the platform in Outlook, how often, and how.

Built from history rows (one per change the sync made). A trainer's *edit* is a change with
reason `tampered_in_exchange` (a managed field of a pushed item differed, and the platform's
version was written back); a *deletion* is one with `deleted_in_exchange` (a pushed item was
gone, and was created again); a *move* is an edit whose written-back fields include the times
(`start`, `end` or `all_day`): the trainer moved the session in Outlook. Only applied changes
count: a held or failed one is planned again by the next run, and would count twice.

Who made the change is Exchange's word for who last saved the item (EWS `LastModifiedName`;
Graph names no modifier, so the backend gives the organizer). A deletion leaves no item to
ask, so its modifier is `UNKNOWN`. See docs/sync-semantics.md §Tamper report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from sync_rules.frames import split_list
from sync_rules.reasons import DELETED_IN_EXCHANGE, TAMPERED_IN_EXCHANGE
from sync_rules.text import markdown_text, plural

#: The reasons of changes that undid something a trainer did in Outlook.
OVERRIDE_REASONS = (TAMPERED_IN_EXCHANGE, DELETED_IN_EXCHANGE)
#: The fields whose change makes an edit a move.
MOVE_FIELDS = frozenset({"start", "end", "all_day"})
#: The periods the report counts over, in days.
PERIODS = (7, 30)
#: The modifier of a change Exchange named no one for (every deletion).
UNKNOWN = "unknown"
#: Modifier names listed per trainer, the most frequent first.
NAMES_SHOWN = 3
#: The history columns the report reads.
HISTORY_COLUMNS = (
    "provider",
    "trainer",
    "at",
    "reason",
    "outcome",
    "changed_fields",
    "modified_by",
)
COUNTED = ("edits", "deletions", "moves")
COUNT_COLUMNS = tuple(f"{kind}_{days}d" for days in PERIODS for kind in COUNTED)
REPORT_COLUMNS = (
    "provider",
    "trainer",
    *COUNT_COLUMNS,
    "last_at",
    "modified_by",
)


def is_move(changed_fields: object) -> bool:
    """Whether an edit's written-back fields include the item's times."""
    return not MOVE_FIELDS.isdisjoint(split_list(changed_fields))


def modifier_names(names: Iterable[object], shown: int = NAMES_SHOWN) -> str:
    """The most frequent modifiers as "Ann Smith ×2, unknown ×1": by count, then known names
    before `UNKNOWN`, then alphabetically; at most `shown` of them."""
    counts = Counter(str(n) if isinstance(n, str) and n.strip() else UNKNOWN for n in names)
    ranked = sorted(counts.items(), key=lambda nc: (-nc[1], nc[0] == UNKNOWN, nc[0].lower()))
    return ", ".join(f"{name} ×{count}" for name, count in ranked[:shown])


def tamper_report(
    history: pd.DataFrame, now: datetime | pd.Timestamp, days: int | None = None
) -> pd.DataFrame:
    """Per trainer (and provider) with an override in the longest period: the edits,
    deletions and moves of each period up to `now`, when the sync last found one, and who made
    them. Worst first (see `worst_first`); `days` (one of PERIODS) keeps only the trainers with
    an override in that period and ranks by it."""
    if days is not None and days not in PERIODS:
        raise ValueError(f"days must be one of {', '.join(map(str, PERIODS))}, not {days}")
    end = pd.Timestamp(now)
    rows = history.loc[:, list(HISTORY_COLUMNS)].copy()
    rows["at"] = pd.to_datetime(rows["at"], utc=True)
    rows = rows[
        rows["reason"].isin(OVERRIDE_REASONS)
        & (rows["outcome"] == "applied")
        & (rows["at"] <= end)
        & (rows["at"] > end - pd.Timedelta(days=max(PERIODS)))
    ]
    if rows.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in REPORT_COLUMNS})
    edit = rows["reason"] == TAMPERED_IN_EXCHANGE
    flags = pd.DataFrame(
        {
            "edits": edit,
            "deletions": rows["reason"] == DELETED_IN_EXCHANGE,
            "moves": edit & rows["changed_fields"].map(is_move).astype(bool),
        }
    )
    for period in PERIODS:
        inside = rows["at"] > end - pd.Timedelta(days=period)
        for kind in COUNTED:
            rows[f"{kind}_{period}d"] = (flags[kind] & inside).astype(int)
    grouped = rows.groupby(["provider", "trainer"], sort=False)
    report = grouped[list(COUNT_COLUMNS)].sum()
    report["last_at"] = grouped["at"].max()
    report["modified_by"] = grouped["modified_by"].agg(modifier_names)
    report = report.reset_index().loc[:, list(REPORT_COLUMNS)]
    return worst_first(report, days)


def overrides(report: pd.DataFrame, days: int) -> pd.Series:
    """Each trainer's edits and deletions in the period (a move is one of the edits)."""
    return report[f"edits_{days}d"] + report[f"deletions_{days}d"]


def worst_first(report: pd.DataFrame, days: int | None = None) -> pd.DataFrame:
    """The report ordered by overrides in the shortest period (or in `days`, keeping only the
    trainers with one in it), then in the longest, then the most recent first, then by
    provider and trainer, so that equal rows come in one stable order."""
    ranked = report if days is None else report[overrides(report, days) > 0]
    first = days if days is not None else min(PERIODS)
    keys = ranked.assign(
        _first=-overrides(ranked, first),
        _all=-overrides(ranked, max(PERIODS)),
        _last=-pd.to_datetime(ranked["last_at"], utc=True).astype("int64"),
        _provider=ranked["provider"].str.lower(),
        _trainer=ranked["trainer"].str.lower(),
    )
    ordered = keys.sort_values(["_first", "_all", "_last", "_provider", "_trainer"], kind="stable")
    return ordered.loc[:, list(REPORT_COLUMNS)].reset_index(drop=True)


#: How the report shows a time (UTC: the report spans a provider's trainers, not a session).
WHEN = "%Y-%m-%d %H:%M UTC"
#: Trainers the Markdown summary names; the table artifact and the CLI list all of them.
WORST_SHOWN = 5


def report_rows(report: pd.DataFrame) -> list[dict[str, object]]:
    """The report as plain rows (REPORT_COLUMNS; counts as ints, `last_at` as WHEN text), for
    a table artifact or the CLI."""
    rows: list[dict[str, object]] = []
    for record in report.to_dict("records"):
        row = {name: record[name] for name in REPORT_COLUMNS}
        row.update({name: int(record[name]) for name in COUNT_COLUMNS})
        row["last_at"] = pd.Timestamp(record["last_at"]).strftime(WHEN)
        rows.append(row)
    return rows


def tamper_markdown(provider: str, report: pd.DataFrame, shown: int = WORST_SHOWN) -> str:
    """A short summary of a provider's report: the worst offenders first, each with what they
    did in the last 7 and 30 days and who Exchange says made the changes."""
    title = f"# Outlook overrides at {markdown_text(provider)}"
    if report.empty:
        return f"{title}\n\nNo trainer edited or deleted a pushed session in the last 30 days."
    lines = [
        title,
        "",
        f"{plural(len(report), 'trainer')} edited or deleted pushed sessions in Outlook in the "
        "last 30 days; the sync put each back as the platform has it. Worst first:",
        "",
    ]
    for row in report.head(shown).to_dict("records"):
        periods = "; ".join(
            f"{days} days: {plural(int(row[f'edits_{days}d']), 'edit')} "
            f"({int(row[f'moves_{days}d'])} moved), "
            f"{plural(int(row[f'deletions_{days}d']), 'deletion')}"
            for days in PERIODS
        )
        lines.append(
            f"- **{markdown_text(row['trainer'])}**: {periods}. Last found "
            f"{pd.Timestamp(row['last_at']).strftime(WHEN)}; changed by "
            f"{markdown_text(row['modified_by'])}."
        )
    if len(report) > shown:
        lines += ["", f"The other {len(report) - shown} are in the table artifact."]
    lines += ["", "Every trainer with their counts: `trainer-sync report tamper`"]
    return "\n".join(lines)
