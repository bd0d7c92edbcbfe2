"""Frame schemas: what extractors must hand over, and what the planner refuses."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

from sync_rules.frames import (
    PLAN_COLUMNS,
    LinksSchema,
    empty_frame,
    split_list,
    validate_exchange,
    validate_links,
    validate_platform,
)
from tests.sync_rules.model import exchange_item, platform_entry


def exchange_frame(**fields) -> pd.DataFrame:
    row = exchange_item(1, "A", "2026-11-26T09:00Z", "2026-11-26T10:00Z")
    row.update(fields)
    return pd.DataFrame([row])


def test_timestamps_are_coerced_to_utc_nanoseconds():
    frame = exchange_frame()
    frame["start"] = pd.Series([pd.Timestamp("2026-11-26T10:00+01:00")]).astype(
        "datetime64[us, Europe/Paris]"
    )
    out = validate_exchange(frame)
    assert str(out["start"].dtype) == "datetime64[ns, UTC]"
    assert out["start"].iloc[0] == pd.Timestamp("2026-11-26T09:00Z")


def test_naive_timestamps_are_refused():
    frame = exchange_frame()
    frame["start"] = pd.Timestamp("2026-11-26T09:00")
    with pytest.raises(pa.errors.SchemaError):
        validate_exchange(frame)


@pytest.mark.parametrize(
    ("column", "value"), [("show_as", "Maybe"), ("is_cancelled", None), ("item_id", None)]
)
def test_bad_values_name_the_column(column, value):
    with pytest.raises(pa.errors.SchemaError, match=column):
        validate_exchange(exchange_frame(**{column: value}))


def test_missing_column_is_named_and_extra_columns_are_dropped():
    frame = exchange_frame().drop(columns=["change_key"])
    with pytest.raises(pa.errors.SchemaError, match="change_key"):
        validate_exchange(frame)
    out = validate_exchange(exchange_frame().assign(attendees="secret"))
    assert "attendees" not in out.columns


def test_end_before_start_is_refused():
    row = platform_entry(1, "session:1", "2026-11-26T10:00Z", "2026-11-26T09:00Z")
    with pytest.raises(pa.errors.SchemaError, match="end_not_before_start"):
        validate_platform(pd.DataFrame([row]))


def test_platform_kind_and_origin_are_checked():
    row = platform_entry(1, "session:1", "2026-11-26T09:00Z", "2026-11-26T10:00Z", origin="outlook")
    with pytest.raises(pa.errors.SchemaError, match="origin"):
        validate_platform(pd.DataFrame([row]))


def test_one_link_per_trainer_and_entry():
    links = pd.DataFrame(
        [
            {"trainer_id": 1, "entry_key": "session:1", "item_id": "A", "change_key": "c",
             "content_hash": "h"},
            {"trainer_id": 1, "entry_key": "session:1", "item_id": "B", "change_key": "c",
             "content_hash": "h"},
        ]
    )  # fmt: skip
    with pytest.raises(pa.errors.SchemaError):
        validate_links(links)


def test_empty_frames_have_typed_columns():
    links = empty_frame(LinksSchema)
    assert list(links.columns) == [
        "trainer_id",
        "entry_key",
        "item_id",
        "change_key",
        "content_hash",
    ]
    assert str(links["trainer_id"].dtype) == "int64"


def test_plan_columns_and_list_values():
    assert PLAN_COLUMNS[:4] == ("trainer_id", "side", "action", "reason")
    assert split_list("Training;Leeds") == ["Training", "Leeds"]
    assert split_list(None) == [] and split_list("") == []
