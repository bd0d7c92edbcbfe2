"""Rendered fields fit what Exchange holds: subject and location 255 UTF-16 code units, the
body `BODY_LIMIT`; a fitted value renders (and hashes) the same on every run."""

from __future__ import annotations

import pandas as pd
import pytest

from sync_rules.render import (
    BODY_LIMIT,
    ELLIPSIS,
    LOCATION_LIMIT,
    SUBJECT_LIMIT,
    fit,
    render_entries,
    render_entry,
)
from sync_rules.rules import load_rules
from tests.sync_rules.model import platform_entry

RULES = load_rules()


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def session(**fields: object) -> dict:
    row = platform_entry(
        1, "session:7", "2026-12-07T09:00Z", "2026-12-07T17:00Z", course="Excel", venue="Leeds"
    )
    row.update(fields)
    return row


def test_a_long_course_name_renders_a_subject_exchange_keeps_whole() -> None:
    out = render_entry(session(course="C" * 100_000), RULES)
    assert utf16_units(out["subject"]) == SUBJECT_LIMIT
    assert out["subject"] == "C" * (SUBJECT_LIMIT - 1) + ELLIPSIS
    # The body starts with the course: it is cut too, within its own limit.
    assert utf16_units(out["body"]) <= BODY_LIMIT and out["body"].endswith(ELLIPSIS)


def test_a_subject_at_the_limit_is_left_alone() -> None:
    exact = "S" * (SUBJECT_LIMIT - len(" — Leeds"))
    assert render_entry(session(course=exact), RULES)["subject"] == f"{exact} — Leeds"


def test_a_long_venue_renders_a_location_within_the_limit() -> None:
    out = render_entry(session(venue="V" * 5_000, venue_address="1 Park Row"), RULES)
    assert utf16_units(out["location"]) == LOCATION_LIMIT
    assert out["location"].endswith(ELLIPSIS)


@pytest.mark.parametrize("text", ["😀" * 200, "a" + "😀" * 200, "é" * 300])
def test_fit_counts_utf16_units_and_never_splits_a_character(text: str) -> None:
    fitted = fit(text, SUBJECT_LIMIT)
    assert utf16_units(fitted) <= SUBJECT_LIMIT
    assert fitted.endswith(ELLIPSIS)
    assert text.startswith(fitted[: -len(ELLIPSIS)])  # whole characters of the original
    assert fit(fitted, SUBJECT_LIMIT) == fitted


def test_fitted_values_hash_the_same_on_every_run_and_alone_or_in_a_frame() -> None:
    rows = [
        session(course="C" * 100_000, venue="V" * 400),
        session(entry_key="session:8"),
        session(entry_key="session:9", venue_address="A" * 20_000),
    ]
    frame = pd.DataFrame(rows)
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    first, second = render_entries(frame, RULES), render_entries(frame, RULES)
    pd.testing.assert_frame_equal(first, second)
    hashed_only = render_entries(frame, RULES, text=False)
    assert list(hashed_only["content_hash"]) == list(first["content_hash"])
    for i, row in enumerate(rows):
        one = render_entry(row, RULES)
        assert (one["subject"], one["body"], one["content_hash"]) == (
            first.iloc[i]["subject"],
            first.iloc[i]["body"],
            first.iloc[i]["content_hash"],
        )
    assert utf16_units(first.iloc[2]["body"]) <= BODY_LIMIT
    # The short entry renders as it always did.
    assert first.iloc[1]["subject"] == "Excel — Leeds"
