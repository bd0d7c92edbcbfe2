"""Rendering: platform entries -> the Outlook fields the engine manages, and their hash.

Rendering is vectorised over a frame: templates are split once into literals and
placeholders and assembled column-wise; dates are built from lookup tables rather than
`strftime` per row. The content hash is the sha256 hex digest of a canonical, versioned
serialisation of exactly the managed fields (`frames.MANAGED_FIELDS`).

All-day entries are normalised to whole days in the rules' time zone: start at local
midnight of the first day, end at local midnight after the last day (end exclusive), both
as UTC instants. This is also how the Exchange connector must present all-day items
(see `all_day_dates` and `all_day_bounds`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import string
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from sync_rules.frames import MANAGED_FIELDS, PLATFORM_COLUMNS, UTC_TS, validate_platform
from sync_rules.rules import Rules

HASH_VERSION = "v1"
UNAVAILABLE = "Unavailable"

_DAYS = np.array(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], dtype=object)
_MONTHS = np.array(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    dtype=object,
)
_NUM = np.array([str(i) for i in range(60)], dtype=object)
_NUM2 = np.array([f"{i:02d}" for i in range(60)], dtype=object)
# Separators a one-line field may be left with when a placeholder renders empty.
_DANGLING = re.compile(r"^(?:\s*[—–\-|,:/]\s*)+|(?:\s*[—–\-|,:/]\s*)+$")
_ONE_DAY = pd.Timedelta(days=1)


# ---------------------------------------------------------------- all-day conventions


def whole_days(start: pd.Series, end: pd.Series, tz: ZoneInfo | str) -> tuple[pd.Series, pd.Series]:
    """Widen (start, end) to whole local days in `tz`: local midnight on or before start,
    local midnight on or after end (at least one day), returned as UTC."""
    local_start = start.dt.tz_convert(tz).dt.tz_localize(None)
    local_end = end.dt.tz_convert(tz).dt.tz_localize(None)
    first = local_start.dt.normalize()
    after = local_end.dt.normalize()
    after = after.where(after == local_end, after + _ONE_DAY)
    after = after.where(after > first, first + _ONE_DAY)
    return _midnight_utc(first, tz), _midnight_utc(after, tz)


def _midnight_utc(naive_local: pd.Series, tz: ZoneInfo | str) -> pd.Series:
    # Midnight can be skipped or repeated by a DST change in a few zones: take the first
    # valid instant of the day in either case.
    ambiguous = np.ones(len(naive_local), dtype=bool)
    localised = naive_local.dt.tz_localize(tz, ambiguous=ambiguous, nonexistent="shift_forward")
    return localised.dt.tz_convert("UTC").astype(UTC_TS)


def all_day_dates(start: pd.Timestamp, end: pd.Timestamp, tz: str) -> tuple[dt.date, dt.date]:
    """For writing an all-day item: (first day, last day inclusive) in `tz` of an all-day
    entry stored as UTC midnights. exchangelib takes these as `EWSDate` start/end of an
    `is_all_day` item (it adds the day to `end` itself)."""
    zone = ZoneInfo(tz)
    first = start.tz_convert(zone).date()
    last = (end.tz_convert(zone) - _ONE_DAY).date()
    return first, max(first, last)


def all_day_bounds(first_day: dt.date, last_day: dt.date, tz: str) -> tuple[pd.Timestamp, ...]:
    """For reading an all-day item (exchangelib gives first and last day, inclusive): the
    UTC instants of local midnight on `first_day` and after `last_day` in `tz`."""
    naive = pd.Series([pd.Timestamp(first_day), pd.Timestamp(max(first_day, last_day)) + _ONE_DAY])
    bounds = _midnight_utc(naive, tz)
    return bounds.iloc[0], bounds.iloc[1]


# ---------------------------------------------------------------- dates for the body


def _date_parts(local: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    years = local.year.to_numpy()
    uniq, inverse = np.unique(years, return_inverse=True)
    year_text = np.array([str(y) for y in uniq], dtype=object)[inverse]
    date = (
        _DAYS[local.day_of_week.to_numpy()]
        + " "
        + _NUM[local.day.to_numpy()]
        + " "
        + _MONTHS[local.month.to_numpy() - 1]
        + " "
        + year_text
    )
    time = _NUM2[local.hour.to_numpy()] + ":" + _NUM2[local.minute.to_numpy()]
    return {"date": date, "time": time, "day": local.normalize().to_numpy()}


def format_when(start: pd.Series, end: pd.Series, all_day: pd.Series, tz: str) -> np.ndarray:
    """Human-readable dates of entries in the display time zone, e.g.
    "Mon 7 Dec 2026, 09:00–17:00", "Mon 7 Dec 2026 22:00 – Tue 8 Dec 2026 02:00",
    "Mon 7 Dec 2026 (all day)", "Mon 7 Dec 2026 – Wed 9 Dec 2026 (all day)"."""
    if len(start) == 0:
        return np.array([], dtype=object)
    zone = ZoneInfo(tz)
    all_day_mask = all_day.to_numpy(dtype=bool)
    s = _date_parts(pd.DatetimeIndex(start).tz_convert(zone))
    # For all-day entries the last day shown is the day before the exclusive end.
    end_idx = pd.DatetimeIndex(end).tz_convert(zone)
    last_idx = pd.DatetimeIndex(end_idx - _ONE_DAY)
    e_timed = _date_parts(end_idx)
    e_day = _date_parts(last_idx)
    same_timed = s["day"] == e_timed["day"]
    same_day = (s["day"] >= e_day["day"]) | np.asarray(end_idx <= pd.DatetimeIndex(start))
    timed_same = s["date"] + ", " + s["time"] + "–" + e_timed["time"]
    timed_span = s["date"] + " " + s["time"] + " – " + e_timed["date"] + " " + e_timed["time"]
    day_single = s["date"] + " (all day)"
    day_span = s["date"] + " – " + e_day["date"] + " (all day)"
    return np.where(
        all_day_mask,
        np.where(same_day, day_single, day_span),
        np.where(same_timed, timed_same, timed_span),
    )


# ---------------------------------------------------------------- templates


def _tokens(template: str) -> list[tuple[str, str | None]]:
    return [(lit, name) for lit, name, _spec, _conv in string.Formatter().parse(template)]


def _fill(tokens: list[tuple[str, str | None]], values: Mapping[str, np.ndarray], n: int):
    out = np.full(n, "", dtype=object)
    for literal, name in tokens:
        if literal:
            out = out + literal
        if name is not None:
            out = out + values[name]
    return out


def _any_empty(names: list[str], values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for name in names:
        mask |= values[name] == ""
    return mask


def render_line(template: str, values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Render a one-line template; separators left dangling by empty values are trimmed."""
    tokens = _tokens(template)
    out = _fill(tokens, values, n)
    names = [name for _, name in tokens if name is not None]
    # Only rows with an empty value can have dangling separators: trim just those.
    rows = np.flatnonzero(_any_empty(names, values, n))
    if len(rows):
        out[rows] = [_DANGLING.sub("", str(v)).strip() for v in out[rows]]
    return out


def render_text(template: str, values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Render a multi-line template: a line whose placeholders are all empty is dropped."""
    out = np.full(n, "", dtype=object)
    for line in template.split("\n"):
        tokens = _tokens(line)
        names = [name for _, name in tokens if name is not None]
        rendered = _fill(tokens, values, n) + "\n"
        if names:
            keep = ~np.logical_and.reduce([values[name] == "" for name in names])
            rendered = np.where(keep, rendered, "")
        out = out + rendered
    return np.array([v.rstrip() for v in out], dtype=object) if n else out


def _text_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype=object, na_value="")


# ---------------------------------------------------------------- entries


def render_entries(platform: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Render platform entries (a validated platform frame) into the Outlook fields the
    engine manages: `MANAGED_FIELDS` plus `content_hash`, indexed like `platform`.

    Sessions use the `out.subject/body/location` templates; unavailability uses the
    `out.unavailability_*` templates (no links). All-day entries are widened to whole days
    in `rules.timezone`."""
    n = len(platform)
    out_rules = rules.out
    all_day = platform["all_day"].astype(bool)
    start, end = platform["start"].astype(UTC_TS), platform["end"].astype(UTC_TS)
    if n and all_day.any():
        day_start, day_end = whole_days(start[all_day], end[all_day], rules.timezone)
        start, end = start.copy(), end.copy()
        start[all_day], end[all_day] = day_start, day_end
    values: dict[str, np.ndarray] = {
        name: _text_values(platform, name)
        for name in (
            "course",
            "venue",
            "venue_address",
            "event_ref",
            "event_url",
            "delegate_instructions_url",
            "trainer_instructions_url",
            "reason",
        )
    }
    values["when"] = format_when(start, end, all_day, rules.timezone)
    is_session = (platform["kind"] == "session").to_numpy(dtype=bool)
    subject = np.where(
        is_session,
        render_line(out_rules.subject, values, n),
        render_line(out_rules.unavailability_subject, values, n),
    )
    # An unavailability subject must never be blank in Outlook.
    subject = np.where(~is_session & (subject == ""), UNAVAILABLE, subject)
    body = np.where(
        is_session,
        render_text(out_rules.body, values, n),
        render_text(out_rules.unavailability_body, values, n),
    )
    location = np.where(
        is_session,
        render_line(out_rules.location, values, n),
        render_line(out_rules.unavailability_location, values, n),
    )
    rendered = pd.DataFrame(
        {
            "subject": pd.Series(subject, index=platform.index, dtype=object),
            "body": pd.Series(body, index=platform.index, dtype=object),
            "location": pd.Series(location, index=platform.index, dtype=object),
            "start": start,
            "end": end,
            "all_day": all_day,
            "show_as": out_rules.show_as,
            "categories": ";".join(out_rules.categories),
            "reminder_minutes": pd.Series(
                out_rules.reminder_minutes, index=platform.index, dtype="Int64"
            ),
        },
        index=platform.index,
    )
    rendered["content_hash"] = content_hash(rendered)
    return rendered


def _epoch_seconds(ts: pd.Series) -> np.ndarray:
    seconds = pd.DatetimeIndex(ts.astype(UTC_TS)).asi8 // 1_000_000_000
    return seconds.astype(str).astype(object)


def content_hash(rendered: pd.DataFrame) -> pd.Series:
    """sha256 hex digest of the managed fields of rendered rows (stable across runs,
    processes and pandas versions: a versioned canonical text of the values)."""
    n = len(rendered)
    if n == 0:
        return pd.Series([], index=rendered.index, dtype=object)
    sep = "\x1f"
    reminder = rendered["reminder_minutes"].astype("Int64")
    reminder_text = reminder.astype(object).where(reminder.notna(), "").astype(str)
    parts = [
        np.full(n, HASH_VERSION, dtype=object),
        _text_values(rendered, "subject"),
        _text_values(rendered, "body"),
        _text_values(rendered, "location"),
        _epoch_seconds(rendered["start"]),
        _epoch_seconds(rendered["end"]),
        np.where(rendered["all_day"].to_numpy(dtype=bool), "1", "0").astype(object),
        _text_values(rendered, "show_as"),
        _text_values(rendered, "categories"),
        reminder_text.to_numpy(dtype=object),
    ]
    assert len(parts) == len(MANAGED_FIELDS) + 1
    canonical = parts[0]
    for part in parts[1:]:
        canonical = canonical + sep + part
    digests = [hashlib.sha256(text.encode("utf-8")).hexdigest() for text in canonical]
    return pd.Series(digests, index=rendered.index, dtype=object)


def render_entry(entry: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    """Render a single platform entry (a mapping with the platform frame's columns)."""
    row = {column: entry.get(column) for column in PLATFORM_COLUMNS}
    row.setdefault("trainer_id", 0)
    if row["trainer_id"] is None:
        row["trainer_id"] = 0
    frame = validate_platform(pd.DataFrame([row]))
    rendered = render_entries(frame, rules).iloc[0].to_dict()
    if pd.isna(rendered["reminder_minutes"]):
        rendered["reminder_minutes"] = None
    else:
        rendered["reminder_minutes"] = int(rendered["reminder_minutes"])
    return rendered
