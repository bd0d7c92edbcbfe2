"""Rendering: platform entries -> the Outlook fields the engine manages, and their hash.

Rendering works on a whole frame: templates are split once into literals and placeholder
columns, the masks (dropped lines, dangling separators) are computed column-wise, and each
row costs one `str.join` (and one digest); dates are formatted once per distinct day. The
content hash is the sha256 hex digest of a canonical, versioned serialisation of exactly the
managed fields (`vocabulary.MANAGED_FIELDS`): "v1", subject, body, location, start and end as
UTC epoch seconds, all-day as 0/1, show-as, `;`-joined categories and the reminder
(empty when none), separated by U+001F.

Exchange holds at most 255 UTF-16 code units of a subject and of a location: longer ones it
cuts itself, so what it keeps would never be what was rendered. Rendered subjects and
locations are fitted within that (`fit`: cut with an ellipsis, never inside a surrogate
pair), and bodies within `BODY_LIMIT`; the hash covers the fitted values, so a value fitted
once is fitted the same way on every run.

All-day entries are normalised to whole days in the rules' time zone: start at local
midnight of the first day, end at local midnight after the last day (end exclusive), both
as UTC instants. This is also how the Exchange connector must present all-day items
(see `all_day_dates` and `all_day_bounds`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import string
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from sync_rules.frames import PLATFORM_COLUMNS, UTC_TS, validate_platform
from sync_rules.rules import ENTRY_TEXT_FIELDS, Rules

HASH_VERSION = "v1"
UNAVAILABLE = "Unavailable"

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Separators a one-line field may be left with when a placeholder renders empty.
_DANGLING = re.compile(r"^(?:\s*[—–\-|,:/]\s*)+|(?:\s*[—–\-|,:/]\s*)+$")
_ONE_DAY = pd.Timedelta(days=1)

#: Exchange's limits, in UTF-16 code units (a character beyond U+FFFF counts two): the EWS
#: schema limits Subject to 255 characters, and Exchange cuts a location to 255 (MS-OXCICAL,
#: LOCATION). Graph stores the same items.
SUBJECT_LIMIT = 255
LOCATION_LIMIT = 255
#: The body has no limit of its own below the size of a request: Graph takes 4 MB a request
#: (20 items a `$batch`), EWS 30 MB by default on Exchange 2007 (100 items a request). 16,000
#: code units are at most 96 kB as JSON-escaped text, so a full batch fits either.
BODY_LIMIT = 16_000
ELLIPSIS = "…"


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


# ---------------------------------------------------------------- joining parts per row

Part = np.ndarray | str


def _concatenated(parts: list[Part], n: int) -> Iterator[str]:
    """Concatenate per row: arrays give one value per row, strings are the same for all.
    One `str.join` per row is far cheaper than one array concatenation per part."""
    if not parts:
        return itertools.repeat("", n)
    columns = [itertools.repeat(p, n) if isinstance(p, str) else p for p in parts]
    join = "".join
    return (join(row) for row in zip(*columns, strict=False))


def _join(parts: list[Part], n: int) -> list[str]:
    return list(_concatenated(parts, n))


def _masked(keep: np.ndarray, literal: str) -> np.ndarray:
    out = np.full(len(keep), "", dtype=object)
    out[keep] = literal
    return out


# ---------------------------------------------------------------- fitting Exchange's limits


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, units: int) -> str:
    """The longest prefix of `text` within `units` UTF-16 code units."""
    count = 0
    for position, character in enumerate(text):
        count += 2 if character > "\uffff" else 1
        if count > units:
            return text[:position]
    return text


def fit(text: str, limit: int) -> str:
    """`text` within `limit` UTF-16 code units: cut, with an ellipsis, when it is longer."""
    if len(text) * 2 <= limit or _utf16_units(text) <= limit:
        return text
    return _prefix_within(text, limit - len(ELLIPSIS)).rstrip() + ELLIPSIS


def _fitted(texts: np.ndarray, limit: int) -> np.ndarray:
    """`texts` (an object array, changed in place) each within `limit`."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    # A text of at most limit / 2 characters fits whatever they are: only longer ones are
    # measured, so the common case costs one len() a row.
    for row in np.flatnonzero(lengths * 2 > limit).tolist():
        texts[row] = fit(texts[row], limit)
    return texts


def _longest(template: str, values: Mapping[str, np.ndarray], n: int) -> npt.NDArray[np.int64]:
    """Per row, the most characters `template` can render to (every line kept)."""
    longest = np.zeros(n, dtype=np.int64)
    for literal, name in _tokens(template.replace("\n", " ")):
        longest += len(literal)
        if name is not None:
            longest += np.fromiter(map(len, values[name]), dtype=np.int64, count=n)
    return longest


def _fitted_parts(
    parts: list[Part], longest: npt.NDArray[np.int64], limit: int, n: int
) -> list[Part]:
    """Parts (as `text_parts` makes them) whose per-row text is within `limit`: a row that
    could exceed it is joined and fitted, its text then carried by a first part and its other
    parts emptied."""
    rows = np.flatnonzero(longest * 2 > limit).tolist()
    texts = {row: "".join(p if isinstance(p, str) else p[row] for p in parts) for row in rows}
    fitted = {row: fit(text, limit) for row, text in texts.items() if len(text) * 2 > limit}
    cut = [row for row, text in fitted.items() if text != texts[row]]
    if not cut:
        return parts
    first = np.full(n, "", dtype=object)
    first[cut] = [fitted[row] for row in cut]
    kept = np.ones(n, dtype=bool)
    kept[cut] = False
    out: list[Part] = [first]
    for part in parts:
        if isinstance(part, str):
            out.append(_masked(kept, part))
        else:
            emptied = part.copy()
            emptied[~kept] = ""
            out.append(emptied)
    return out


# ---------------------------------------------------------------- dates for the body

_DAY_NS = 86_400 * 1_000_000_000
_MINUTE_NS = 60 * 1_000_000_000
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_HHMM = np.array([f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)], dtype=object)


def _wall_ns(ts: pd.Series, zone: ZoneInfo) -> npt.NDArray[np.int64]:
    wall = pd.DatetimeIndex(ts).tz_convert(zone).tz_localize(None).as_unit("ns")
    return np.asarray(wall.asi8, dtype=np.int64)


def _day_text(days: np.ndarray) -> np.ndarray:
    # Few distinct days among many rows: format each distinct day once.
    unique, inverse = np.unique(days, return_inverse=True)
    texts = []
    for day in unique.tolist():
        d = dt.date.fromordinal(day + _EPOCH_ORDINAL)
        texts.append(f"{_DAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]} {d.year}")
    return np.array(texts, dtype=object)[inverse]


def format_when(start: pd.Series, end: pd.Series, all_day: pd.Series, tz: str) -> np.ndarray:
    """Human-readable dates of entries in the display time zone, e.g.
    "Mon 7 Dec 2026, 09:00–17:00", "Mon 7 Dec 2026 22:00 – Tue 8 Dec 2026 02:00",
    "Mon 7 Dec 2026 (all day)", "Mon 7 Dec 2026 – Wed 9 Dec 2026 (all day)"."""
    n = len(start)
    out = np.full(n, "", dtype=object)
    if n == 0:
        return out
    zone = ZoneInfo(tz)
    whole = np.asarray(all_day, dtype=bool)
    wall_s, wall_e = _wall_ns(start, zone), _wall_ns(end, zone)
    day_s, day_e = wall_s // _DAY_NS, wall_e // _DAY_NS
    # An all-day end is the midnight after the last day.
    last = np.maximum(np.where(wall_e % _DAY_NS == 0, day_e - 1, day_e), day_s)
    s_date = _day_text(day_s)
    s_time = _HHMM[(wall_s % _DAY_NS) // _MINUTE_NS]
    e_time = _HHMM[(wall_e % _DAY_NS) // _MINUTE_NS]
    cases: list[tuple[npt.NDArray[np.bool_], Callable[[npt.NDArray[np.bool_]], list[Part]]]] = [
        (~whole & (day_s == day_e), lambda m: [s_date[m], ", ", s_time[m], "–", e_time[m]]),
        (
            ~whole & (day_s != day_e),
            lambda m: [s_date[m], " ", s_time[m], " – ", _day_text(day_e[m]), " ", e_time[m]],
        ),
        (whole & (last == day_s), lambda m: [s_date[m], " (all day)"]),
        (whole & (last != day_s), lambda m: [s_date[m], " – ", _day_text(last[m]), " (all day)"]),
    ]
    for mask, parts in cases:
        if mask.any():
            out[mask] = _join(parts(mask), int(mask.sum()))
    return out


# ---------------------------------------------------------------- templates


def _tokens(template: str) -> list[tuple[str, str | None]]:
    return [(lit, name) for lit, name, _spec, _conv in string.Formatter().parse(template)]


def _line_parts(template: str, values: Mapping[str, np.ndarray]) -> list[Part]:
    parts: list[Part] = []
    for literal, name in _tokens(template):
        if literal:
            parts.append(literal)
        if name is not None:
            parts.append(values[name])
    return parts


def render_line(template: str, values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Render a one-line template; separators left dangling by empty values are trimmed."""
    out = np.array(_join(_line_parts(template, values), n), dtype=object)
    names = [name for _, name in _tokens(template) if name is not None]
    empty = np.zeros(n, dtype=bool)
    for name in names:
        empty |= values[name] == ""
    # Only rows with an empty value can have dangling separators: trim just those.
    rows = np.flatnonzero(empty)
    if len(rows):
        out[rows] = [_DANGLING.sub("", str(v)).strip() for v in out[rows]]
    return out


def text_parts(template: str, values: Mapping[str, np.ndarray], n: int) -> list[Part]:
    """The per-row parts of a multi-line template, joined without a separator. A line whose
    placeholders are all empty is dropped; lines are separated by a newline."""
    parts: list[Part] = []
    kept_before = np.zeros(n, dtype=bool)
    for line in template.split("\n"):
        tokens = _tokens(line)
        names = [name for _, name in tokens if name is not None]
        keep = np.ones(n, dtype=bool)
        if names:
            keep = ~np.logical_and.reduce([values[name] == "" for name in names])
        newline = keep & kept_before
        if newline.any():
            parts.append(_masked(newline, "\n"))
        for literal, name in tokens:
            if literal:
                parts.append(literal if not names else _masked(keep, literal))
            if name is not None:
                # A dropped line has only empty values: nothing to mask.
                parts.append(values[name])
        kept_before |= keep
    return parts


def _text_values(frame: pd.DataFrame, column: str) -> npt.NDArray[np.object_]:
    return np.asarray(frame[column].to_numpy(dtype=object, na_value=""), dtype=object)


# ---------------------------------------------------------------- entries

_SEP = "\x1f"


def render_entries(platform: pd.DataFrame, rules: Rules, text: bool = True) -> pd.DataFrame:
    """Render platform entries (a validated platform frame) into the Outlook fields the
    engine manages: `MANAGED_FIELDS` plus `content_hash`, indexed like `platform`.

    Sessions use the `out.subject/body/location` templates; unavailability uses the
    `out.unavailability_*` templates (no links). All-day entries are widened to whole days
    in `rules.timezone`. With `text=False` the subject, body and location are only hashed,
    not returned (cheaper in time and memory when most entries need no write)."""
    n = len(platform)
    out_rules = rules.out
    all_day = platform["all_day"].astype(bool)
    start, end = platform["start"].astype(UTC_TS), platform["end"].astype(UTC_TS)
    if n and all_day.any():
        day_start, day_end = whole_days(start[all_day], end[all_day], rules.timezone)
        start, end = start.copy(), end.copy()
        start[all_day], end[all_day] = day_start, day_end
    is_session = (platform["kind"] == "session").to_numpy(dtype=bool)
    when = format_when(start, end, all_day.to_numpy(), rules.timezone)
    constants = _SEP.join(
        [
            out_rules.show_as,
            ";".join(out_rules.categories),
            "" if out_rules.reminder_minutes is None else str(out_rules.reminder_minutes),
        ]
    )
    times: list[Part] = [
        _epoch_seconds(start),
        _SEP,
        _epoch_seconds(end),
        _SEP,
        np.where(all_day.to_numpy(), "1", "0").astype(object),
        _SEP + constants,
    ]
    subject = np.full(n, "", dtype=object)
    location = np.full(n, "", dtype=object)
    body = np.full(n, "", dtype=object) if text else None
    digests = np.full(n, "", dtype=object)
    groups = (
        (True, is_session, out_rules.subject, out_rules.body, out_rules.location),
        (
            False,
            ~is_session,
            out_rules.unavailability_subject,
            out_rules.unavailability_body,
            out_rules.unavailability_location,
        ),
    )
    text_columns = {name: _text_values(platform, name) for name in ENTRY_TEXT_FIELDS}
    for sessions, mask, subject_t, body_t, location_t in groups:
        m = int(mask.sum())
        if m == 0:
            continue
        values = {name: column[mask] for name, column in text_columns.items()}
        values["when"] = when[mask]
        g_subject = _fitted(render_line(subject_t, values, m), SUBJECT_LIMIT)
        if not sessions:
            # An unavailability subject must never be blank in Outlook.
            g_subject[g_subject == ""] = UNAVAILABLE
        g_location = _fitted(render_line(location_t, values, m), LOCATION_LIMIT)
        g_body = _fitted_parts(
            text_parts(body_t, values, m), _longest(body_t, values, m), BODY_LIMIT, m
        )
        canonical = [
            HASH_VERSION + _SEP,
            g_subject,
            _SEP,
            *g_body,
            _SEP,
            g_location,
            _SEP,
            *(p if isinstance(p, str) else p[mask] for p in times),
        ]
        digests[mask] = _digests(canonical, m)
        subject[mask] = g_subject
        location[mask] = g_location
        if body is not None:
            body[mask] = _join(g_body, m)
    index = platform.index
    columns: dict[str, object] = {}
    if text:
        columns.update(
            subject=pd.Series(subject, index=index, dtype=object),
            body=pd.Series(body, index=index, dtype=object),
            location=pd.Series(location, index=index, dtype=object),
        )
    columns.update(
        start=start,
        end=end,
        all_day=all_day,
        show_as=out_rules.show_as,
        categories=";".join(out_rules.categories),
        reminder_minutes=pd.Series(out_rules.reminder_minutes, index=index, dtype="Int64"),
        content_hash=pd.Series(digests, index=index, dtype=object),
    )
    return pd.DataFrame(columns, index=index)


def _digests(parts: list[Part], n: int) -> npt.NDArray[np.object_]:
    sha = hashlib.sha256
    return np.array(
        [sha(text.encode("utf-8")).hexdigest() for text in _concatenated(parts, n)], dtype=object
    )


def _epoch_seconds(ts: pd.Series) -> np.ndarray:
    seconds = pd.DatetimeIndex(ts.astype(UTC_TS)).asi8 // 1_000_000_000
    # Many rows share a time: format each distinct second once.
    unique, inverse = np.unique(seconds, return_inverse=True)
    return np.array([str(v) for v in unique.tolist()], dtype=object)[inverse]


def render_entry(entry: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    """Render a single platform entry (a mapping with the platform frame's columns)."""
    row = {column: entry.get(column) for column in PLATFORM_COLUMNS}
    if row["trainer_id"] is None:
        row["trainer_id"] = 0
    frame = validate_platform(pd.DataFrame([row]))
    rendered: dict[str, Any] = render_entries(frame, rules).iloc[0].to_dict()
    if pd.isna(rendered["reminder_minutes"]):
        rendered["reminder_minutes"] = None
    else:
        rendered["reminder_minutes"] = int(rendered["reminder_minutes"])
    return rendered
