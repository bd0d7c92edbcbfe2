"""Frame schemas: the contract between extractors, the planner and the loaders.

Every frame has a `trainer_id` on each row. Timestamps are tz-aware UTC with nanosecond
resolution (`datetime64[ns, UTC]`); validation coerces other UTC resolutions and offsets to
that, and rejects naive timestamps. Text columns use pandas' `str` dtype (missing = NaN/None),
flags that may be missing use the nullable `boolean` dtype.

List-valued plan columns (`categories`, `changed_fields`) are `;`-joined strings
("Training;Leeds"); use `split_list` to read them.

All-day convention: an all-day entry or item starts at local midnight of its first day and
ends at local midnight after its last day (end exclusive), local meaning the rules'
`timezone`, both stored as the UTC instants of those midnights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import pandas as pd
import pandera.pandas as pa

from sync_rules.vocabulary import (
    ACTIONS,
    DIRECTIONS,
    KINDS,
    ORIGINS,
    SHOW_AS,
    SIDES,
)

UTC_TS = pd.DatetimeTZDtype("ns", "UTC")


#: The managed fields that the exchange frame carries, hence the ones tamper checks compare.
COMPARED_FIELDS = ("subject", "body", "location", "start", "end", "all_day", "show_as")


def _id() -> pa.Column:
    return pa.Column("int64", coerce=True)


def _text(nullable: bool = True, isin: tuple[str, ...] | None = None) -> pa.Column:
    checks = [pa.Check.isin(list(isin))] if isin else None
    return pa.Column(str, nullable=nullable, coerce=True, checks=checks)


def _flag(nullable: bool = False) -> pa.Column:
    return pa.Column("boolean" if nullable else bool, nullable=nullable, coerce=True)


def _ts(nullable: bool = False) -> pa.Column:
    return pa.Column(UTC_TS, nullable=nullable, coerce=True)


_END_NOT_BEFORE_START = pa.Check(
    lambda df: ~(df["end"] < df["start"]), name="end_not_before_start", element_wise=False
)

TrainersSchema = pa.DataFrameSchema(
    {
        "trainer_id": _id(),
        "direction": _text(False, DIRECTIONS),
        "calendar_enabled": _flag(),
        "mailbox": _text(False),
        "exchange_read": _flag(),
    },
    unique=["trainer_id"],
    name="trainers",
)

PlatformSchema = pa.DataFrameSchema(
    {
        "trainer_id": _id(),
        "entry_key": _text(False),
        "kind": _text(False, KINDS),
        "origin": _text(False, ORIGINS),
        "start": _ts(),
        "end": _ts(),
        "all_day": _flag(),
        "course": _text(),
        "venue": _text(),
        "venue_address": _text(),
        "event_ref": _text(),
        "event_url": _text(),
        "delegate_instructions_url": _text(),
        "trainer_instructions_url": _text(),
        "reason": _text(),
        "source_item_id": _text(),
    },
    checks=[_END_NOT_BEFORE_START],
    unique=["trainer_id", "entry_key"],
    name="platform",
)

ExchangeSchema = pa.DataFrameSchema(
    {
        "trainer_id": _id(),
        "item_id": _text(False),
        "change_key": _text(),
        "start": _ts(),
        "end": _ts(),
        "all_day": _flag(),
        "subject": _text(),
        "location": _text(),
        "body": _text(),
        "show_as": _text(False, SHOW_AS),
        "is_cancelled": _flag(),
        "sensitivity": _text(),
        "tag_key": _text(),
        "tag_hash": _text(),
        # Who last saved the item and when, as Exchange tells it (missing when it does not).
        "modified_by": _text(),
        "modified_at": _ts(nullable=True),
    },
    checks=[_END_NOT_BEFORE_START],
    unique=["trainer_id", "item_id"],
    name="exchange",
)

LinksSchema = pa.DataFrameSchema(
    {
        "trainer_id": _id(),
        "entry_key": _text(False),
        "item_id": _text(False),
        "change_key": _text(),
        "content_hash": _text(),
    },
    unique=["trainer_id", "entry_key"],
    name="links",
)

#: (trainer, entry key) of platform entries that still exist (platform-origin, assigned) but
#: lie outside the window: their items are kept (docs/sync-semantics.md §Window).
OutsideWindowSchema = pa.DataFrameSchema(
    {"trainer_id": _id(), "entry_key": _text(False)},
    name="outside_window",
)

PlanSchema = pa.DataFrameSchema(
    {
        "trainer_id": _id(),
        "side": _text(False, SIDES),
        "action": _text(False, ACTIONS),
        "reason": _text(False),
        "entry_key": _text(),
        "item_id": _text(),
        "change_key": _text(),
        "held": _flag(),
        "hold_reason": _text(),
        "summary": _text(False),
        "subject": _text(),
        "body": _text(),
        "location": _text(),
        "start": _ts(nullable=True),
        "end": _ts(nullable=True),
        "all_day": _flag(nullable=True),
        "show_as": _text(),
        "categories": _text(),
        "reminder_minutes": pa.Column("Int64", nullable=True, coerce=True),
        "content_hash": _text(),
        "source_item_id": _text(),
        "changed_fields": _text(),
        # For an edit in Outlook (tampered_in_exchange): who saved the item and when.
        "modified_by": _text(),
        "modified_at": _ts(nullable=True),
    },
    strict=True,
    ordered=True,
    name="plan",
)

TRAINERS_COLUMNS = tuple(TrainersSchema.columns)
PLATFORM_COLUMNS = tuple(PlatformSchema.columns)
EXCHANGE_COLUMNS = tuple(ExchangeSchema.columns)
LINKS_COLUMNS = tuple(LinksSchema.columns)
OUTSIDE_WINDOW_COLUMNS = tuple(OutsideWindowSchema.columns)
PLAN_COLUMNS = tuple(PlanSchema.columns)


# pandera's error takes (schema, data, message); its constructor carries no annotations.
_SchemaError: Callable[[pa.DataFrameSchema, pd.DataFrame, str], Exception] = pa.errors.SchemaError


def _refuse(schema: pa.DataFrameSchema, frame: pd.DataFrame, problem: str) -> NoReturn:
    raise _SchemaError(schema, frame, f"{schema.name} frame{problem}")


def _validate(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    # Keep only the declared columns, in order: extra columns from an extractor must not
    # leak into the plan, and a missing column fails validation with its name.
    missing = [c for c in schema.columns if c not in frame.columns]
    if missing:
        _refuse(schema, frame, f" is missing column(s): {', '.join(missing)}")
    for name, column in schema.columns.items():
        values = frame[name]
        # Coercion would silently turn a missing flag into False or read a naive time as
        # UTC: refuse both before coercing (other missing values fail validation itself).
        flag = str(column.dtype) == "bool"
        if flag and values.dtype != bool and values.isna().any():
            _refuse(schema, frame, f": column '{name}' has missing values")
        if (
            column.dtype is not None
            and str(column.dtype).startswith("datetime64")
            and _naive(values)
        ):
            _refuse(
                schema,
                frame,
                f": column '{name}' holds timezone-naive timestamps (give UTC-aware times)",
            )
    return schema.validate(frame.loc[:, list(schema.columns)], lazy=False)


def _naive(values: pd.Series) -> bool:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return False
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return True
    present = values.dropna()
    if present.empty:
        return False
    try:
        return pd.DatetimeIndex(present).tz is None
    except (TypeError, ValueError):
        # Mixed offsets or mixed naive/aware values: look at each one.
        return any(pd.Timestamp(v).tzinfo is None for v in present)


def validate_trainers(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate and coerce a trainers frame (raises `pandera.errors.SchemaError`)."""
    return _validate(TrainersSchema, frame)


def validate_platform(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate and coerce a platform frame (raises `pandera.errors.SchemaError`)."""
    return _validate(PlatformSchema, frame)


def validate_exchange(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate and coerce an exchange frame (raises `pandera.errors.SchemaError`)."""
    return _validate(ExchangeSchema, frame)


def validate_links(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate and coerce a link-state frame (raises `pandera.errors.SchemaError`)."""
    return _validate(LinksSchema, frame)


def validate_outside_window(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate and coerce an outside-window keys frame (raises `pandera.errors.SchemaError`)."""
    return _validate(OutsideWindowSchema, frame)


def validate_plan(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate and coerce a plan frame (raises `pandera.errors.SchemaError`)."""
    return _validate(PlanSchema, frame)


def empty_frame(schema: pa.DataFrameSchema) -> pd.DataFrame:
    """An empty frame with the schema's columns and dtypes (e.g. no links yet)."""
    return schema.validate(pd.DataFrame({c: pd.Series([], dtype=object) for c in schema.columns}))


def split_list(value: object) -> list[str]:
    """Read a `;`-joined list column value (`categories`, `changed_fields`)."""
    if not isinstance(value, str) or not value:
        return []
    return value.split(";")
