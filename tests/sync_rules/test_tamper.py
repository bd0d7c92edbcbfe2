"""The tamper report from history rows: who overrides the platform in Outlook, and how."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_rules.reasons import (
    CHANGED_IN_PLATFORM,
    DELETED_IN_EXCHANGE,
    NEW_IN_PLATFORM,
    TAMPERED_IN_EXCHANGE,
)
from sync_rules.tamper import (
    HISTORY_COLUMNS,
    REPORT_COLUMNS,
    UNKNOWN,
    is_move,
    modifier_names,
    report_rows,
    tamper_markdown,
    tamper_report,
)

NOW = pd.Timestamp("2026-03-31T12:00:00Z")


def change(
    trainer: str,
    days_ago: float,
    reason: str = TAMPERED_IN_EXCHANGE,
    *,
    fields: str | None = "subject",
    by: str | None = None,
    outcome: str = "applied",
    provider: str = "Acme",
) -> dict[str, Any]:
    return {
        "provider": provider,
        "trainer": trainer,
        "at": NOW - pd.Timedelta(days=days_ago),
        "reason": reason,
        "outcome": outcome,
        "changed_fields": fields if reason == TAMPERED_IN_EXCHANGE else None,
        "modified_by": by,
    }


def history(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(HISTORY_COLUMNS))


def row_of(report: pd.DataFrame, trainer: str) -> dict[str, Any]:
    found = report[report["trainer"] == trainer]
    assert len(found) == 1, f"{trainer} is listed {len(found)} times"
    return dict(found.iloc[0])


def test_edits_deletions_and_moves_are_counted_per_period() -> None:
    report = tamper_report(
        history(
            change("ann@acme.test", 1, fields="start;end", by="Ann Smith"),
            change("ann@acme.test", 2, fields="subject;location", by="Ann Smith"),
            change("ann@acme.test", 3, DELETED_IN_EXCHANGE),
            change("ann@acme.test", 20, fields="all_day", by="Assistant"),
            change("ann@acme.test", 25, DELETED_IN_EXCHANGE),
        ),
        NOW,
    )
    ann = row_of(report, "ann@acme.test")
    assert (ann["edits_7d"], ann["deletions_7d"], ann["moves_7d"]) == (2, 1, 1)
    assert (ann["edits_30d"], ann["deletions_30d"], ann["moves_30d"]) == (3, 2, 2)
    assert ann["last_at"] == NOW - pd.Timedelta(days=1)
    assert ann["modified_by"] == f"Ann Smith ×2, {UNKNOWN} ×2, Assistant ×1"
    assert tuple(report.columns) == REPORT_COLUMNS


def test_changes_the_platform_made_and_older_ones_are_not_counted() -> None:
    report = tamper_report(
        history(
            change("ann@acme.test", 1, NEW_IN_PLATFORM),
            change("ann@acme.test", 1, CHANGED_IN_PLATFORM),
            change("ann@acme.test", 31),
            change("bob@acme.test", -1),  # after `now`: not in any period yet
        ),
        NOW,
    )
    assert report.empty
    assert tuple(report.columns) == REPORT_COLUMNS


def test_held_or_failed_changes_are_counted_once_when_applied() -> None:
    # A failed recreate is planned again by the next run: only the applied one counts.
    report = tamper_report(
        history(
            change("ann@acme.test", 2, DELETED_IN_EXCHANGE, outcome="failed"),
            change("ann@acme.test", 2, DELETED_IN_EXCHANGE, outcome="held"),
            change("ann@acme.test", 1, DELETED_IN_EXCHANGE),
        ),
        NOW,
    )
    assert row_of(report, "ann@acme.test")["deletions_7d"] == 1


def test_worst_first_by_the_last_week_then_the_month() -> None:
    report = tamper_report(
        history(
            *(change("old@acme.test", 20) for _ in range(5)),
            change("week@acme.test", 1),
            change("week@acme.test", 2, DELETED_IN_EXCHANGE),
            change("once@acme.test", 3),
            change("recent@acme.test", 0.5),
        ),
        NOW,
    )
    assert list(report["trainer"]) == [
        "week@acme.test",
        "recent@acme.test",  # one this week, and the newest of the ones with one
        "once@acme.test",
        "old@acme.test",
    ]


def test_one_period_keeps_the_trainers_with_an_override_in_it() -> None:
    rows = history(*(change("old@acme.test", 20) for _ in range(5)), change("new@acme.test", 1))
    assert list(tamper_report(rows, NOW, days=7)["trainer"]) == ["new@acme.test"]
    assert list(tamper_report(rows, NOW, days=30)["trainer"]) == [
        "old@acme.test",
        "new@acme.test",
    ]
    with pytest.raises(ValueError, match="7, 30"):
        tamper_report(rows, NOW, days=14)


def test_the_same_address_at_two_providers_is_two_rows() -> None:
    report = tamper_report(
        history(change("ann@acme.test", 1), change("ann@acme.test", 1, provider="Globex")),
        NOW,
    )
    assert sorted(report["provider"]) == ["Acme", "Globex"]


def test_a_move_is_an_edit_of_the_times() -> None:
    assert is_move("start;end") and is_move("subject;all_day") and is_move("end")
    assert not is_move("subject;body;location;show_as")
    assert not is_move(None) and not is_move("")


def test_modifier_names_rank_by_count_and_list_unknown_after_known_names() -> None:
    assert modifier_names(["Bob", None, "Ann", "Bob", None]) == "Bob ×2, unknown ×2, Ann ×1"
    assert modifier_names(["", " ", "Ann"]) == "unknown ×2, Ann ×1"
    assert modifier_names(["Ann", None]) == "Ann ×1, unknown ×1"
    assert modifier_names(["a", "b", "c", "d"], shown=2) == "a ×1, b ×1"


# --- properties --------------------------------------------------------------------------------

TRAINERS = ("ann@acme.test", "bob@acme.test", "cy@acme.test")
REASONS = (TAMPERED_IN_EXCHANGE, DELETED_IN_EXCHANGE, NEW_IN_PLATFORM)
FIELDS = (None, "subject", "start;end", "location;all_day")

changes = st.lists(
    st.builds(
        change,
        st.sampled_from(TRAINERS),
        st.floats(min_value=-2, max_value=40, allow_nan=False),
        st.sampled_from(REASONS),
        fields=st.sampled_from(FIELDS),
        by=st.sampled_from((None, "Ann", "Master")),
        outcome=st.sampled_from(("applied", "applied", "failed", "held")),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(changes)
def test_counts_add_up_to_the_applied_overrides_of_each_period(rows: list[dict[str, Any]]) -> None:
    report = tamper_report(history(*rows), NOW)
    for days in (7, 30):
        applied = [
            r
            for r in rows
            if r["outcome"] == "applied" and NOW - pd.Timedelta(days=days) < r["at"] <= NOW
        ]
        assert report[f"edits_{days}d"].sum() == sum(
            r["reason"] == TAMPERED_IN_EXCHANGE for r in applied
        )
        assert report[f"deletions_{days}d"].sum() == sum(
            r["reason"] == DELETED_IN_EXCHANGE for r in applied
        )
    assert (report["moves_7d"] <= report["edits_7d"]).all()
    assert (report["moves_30d"] <= report["edits_30d"]).all()
    for kind in ("edits", "deletions", "moves"):
        assert (report[f"{kind}_7d"] <= report[f"{kind}_30d"]).all()
    assert not report.duplicated(["provider", "trainer"]).any()


@settings(max_examples=100, deadline=None)
@given(changes, st.randoms(use_true_random=False))
def test_the_report_is_ordered_worst_first_whatever_order_the_history_has(
    rows: list[dict[str, Any]], shuffle: Any
) -> None:
    report = tamper_report(history(*rows), NOW)
    shuffled = list(rows)
    shuffle.shuffle(shuffled)
    pd.testing.assert_frame_equal(tamper_report(history(*shuffled), NOW), report)
    week = report["edits_7d"] + report["deletions_7d"]
    assert list(week) == sorted(week, reverse=True)


def test_the_summary_leads_with_the_worst_and_escapes_names() -> None:
    report = tamper_report(
        history(
            change("calm@acme.test", 20),
            change("[b]|worst@acme.test", 1, fields="start;end", by="Ann | <b>Smith</b>"),
            change("[b]|worst@acme.test", 2, DELETED_IN_EXCHANGE),
        ),
        NOW,
    )
    text = tamper_markdown("Acme", report, shown=1)
    worst = next(line for line in text.splitlines() if line.startswith("- "))
    assert "worst@acme.test" in worst and "calm@" not in text.split("The other")[0]
    assert "7 days: 1 edit (1 moved), 1 deletion" in worst
    assert "<b>" not in text and "Ann \\| " in text
    assert "The other 1 are in the table artifact." in text
    assert "No trainer" in tamper_markdown("Acme", report.iloc[:0])


def test_report_rows_are_plain_values() -> None:
    (row,) = report_rows(tamper_report(history(change("ann@acme.test", 1, by="Ann")), NOW))
    assert row["edits_7d"] == 1 and isinstance(row["edits_7d"], int)
    assert row["last_at"] == (NOW - pd.Timedelta(days=1)).strftime("%Y-%m-%d %H:%M UTC")
    assert row["modified_by"] == "Ann ×1"
