"""A trainer's health across runs: failures in a row, last success, the attention order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sync_rules.health import after_run, attention_order, short_error

T0 = datetime(2026, 12, 7, 9, tzinfo=UTC)
STATUSES = ["synced", "idle", "held", "failed", "planned", "disabled"]


@given(st.lists(st.sampled_from(STATUSES), max_size=30))
def test_health_follows_the_runs(statuses: list[str]) -> None:
    health = None
    for n, status in enumerate(statuses):
        health = after_run(health, status, f"error {n}", T0 + timedelta(minutes=n)) or health
    counted = [(n, s) for n, s in enumerate(statuses) if s not in ("planned", "disabled")]
    if not counted:
        assert health is None  # dry runs and disabled links say nothing of health
        return
    assert health is not None
    trailing = 0
    for _, status in reversed(counted):
        if status != "failed":
            break
        trailing += 1
    assert health.failures_in_a_row == trailing
    successes = [n for n, s in counted if s in ("synced", "idle")]
    expected = T0 + timedelta(minutes=successes[-1]) if successes else None
    assert health.last_success_at == expected
    last_n, last_status = counted[-1]
    assert health.last_status == last_status
    assert health.last_error == (f"error {last_n}" if last_status == "failed" else None)


def test_problems_come_first_the_longest_failing_first() -> None:
    rows = [("idle", 0, "a"), ("failed", 1, "b"), ("held", 0, "c"), ("failed", 5, "d")]
    rows.sort(key=lambda r: attention_order(*r))
    assert [r[2] for r in rows] == ["d", "b", "c", "a"]


def test_a_short_error_is_its_first_sentence_on_one_line() -> None:
    error = "Rex's calendar is read-only.\n Grant Editor to master@acme.test in Outlook."
    assert short_error(error) == "Rex's calendar is read-only."
    assert short_error(None) == ""
    long = "x" * 500
    assert short_error(long) == "x" * 199 + "…"


def test_a_secret_is_announced_from_two_weeks_before_its_expiry() -> None:
    from datetime import date

    from sync_rules.credentials import expiry_notice

    today = date(2027, 3, 1)
    assert expiry_notice("acme-graph", "graph", None, today) is None
    assert expiry_notice("acme-graph", "graph", date(2027, 3, 16), today) is None
    notice = expiry_notice("acme-graph", "graph", date(2027, 3, 15), today)
    assert notice is not None
    assert notice.startswith("The client secret of service acme-graph expires on 2027-03-15, in 14")
    assert "--secret-stdin" in notice
    assert "expires today" in (expiry_notice("s", "ews", today, today) or "")
    assert "in 1 day:" in (expiry_notice("s", "ews", date(2027, 3, 2), today) or "")
    assert "expired on 2027-02-27" in (expiry_notice("s", "graph", date(2027, 2, 27), today) or "")
