"""Clashes: which sessions overlap a trainer's own blocking Outlook items, and what a run's
clashes change against the stored ones (docs/sync-semantics.md §Clashes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_rules.clashes import (
    KNOWN_COLUMNS,
    clash_messages,
    find_clashes,
    overlapping,
    reconcile,
)
from sync_rules.frames import EXCHANGE_COLUMNS, PLATFORM_COLUMNS, TRAINERS_COLUMNS
from sync_rules.rules import load_rules
from tests.sync_rules.model import NOW, exchange_item, platform_entry

RULES = load_rules()
DAY = "2026-11-26"


def at(hour: float, day: str = DAY) -> pd.Timestamp:
    return pd.Timestamp(f"{day}T00:00Z") + pd.Timedelta(hours=hour)


def trainers(*rows: tuple[int, str], **flags: object) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "trainer_id": tid,
                "direction": direction,
                "calendar_enabled": True,
                "mailbox": f"t{tid}@acme.test",
                "exchange_read": True,
                **flags,
            }
            for tid, direction in rows
        ],
        columns=list(TRAINERS_COLUMNS),
    )


def session(tid: int, n: int, start: float, end: float, day: str = DAY, **fields: object) -> dict:
    fields.setdefault("course", "First Aid")
    return platform_entry(tid, f"session:{n}", at(start, day), at(end, day), **fields)


def item(
    tid: int, item_id: str, start: float, end: float, day: str = DAY, **fields: object
) -> dict:
    return exchange_item(tid, item_id, at(start, day), at(end, day), **fields)


def clashes(people: pd.DataFrame, entries: list[dict], items: list[dict], rules=RULES):
    return find_clashes(
        people,
        pd.DataFrame(entries, columns=list(PLATFORM_COLUMNS)),
        pd.DataFrame(items, columns=list(EXCHANGE_COLUMNS)),
        rules,
        NOW,
    )


def pairs(found: pd.DataFrame) -> list[tuple[int, str, str]]:
    return list(found[["trainer_id", "entry_key", "item_id"]].itertuples(index=False, name=None))


# ------------------------------------------------------------------ what counts


def test_a_busy_item_during_a_session_is_a_clash_with_both_time_ranges() -> None:
    found = clashes(trainers((1, "both")), [session(1, 1, 9, 12)], [item(1, "own", 10, 11)])
    (row,) = found.to_dict("records")
    assert (row["entry_key"], row["item_id"], row["course"], row["show_as"]) == (
        "session:1",
        "own",
        "First Aid",
        "Busy",
    )
    assert (row["session_start"], row["session_end"]) == (at(9), at(12))
    assert (row["busy_start"], row["busy_end"]) == (at(10), at(11))


@pytest.mark.parametrize(
    ("show_as", "clashes_"),
    [
        ("Busy", True),
        ("OOF", True),
        ("WorkingElsewhere", True),
        ("NoData", True),
        ("Tentative", True),
        ("Free", False),
    ],
)
def test_what_blocks_is_what_the_in_direction_mirrors(show_as: str, clashes_: bool) -> None:
    found = clashes(
        trainers((1, "out")), [session(1, 1, 9, 12)], [item(1, "own", 10, 11, show_as=show_as)]
    )
    assert (len(found) == 1) is clashes_


def test_the_in_rules_decide_free_and_tentative() -> None:
    rules = load_rules(overrides={"in": {"free_blocks": True, "tentative_blocks": False}})
    found = clashes(
        trainers((1, "both")),
        [session(1, 1, 9, 12)],
        [item(1, "free", 9, 10, show_as="Free"), item(1, "maybe", 10, 11, show_as="Tentative")],
        rules,
    )
    assert pairs(found) == [(1, "session:1", "free")]


def test_cancelled_and_tagged_items_never_clash() -> None:
    found = clashes(
        trainers((1, "both")),
        [session(1, 1, 9, 12)],
        [
            item(1, "cancelled", 9, 10, is_cancelled=True),
            item(1, "ours", 9, 12, tag_key="session:1", tag_hash="h"),
            item(1, "other-of-ours", 10, 11, tag_key="unavailability:4", tag_hash="h"),
        ],
    )
    assert found.empty


def test_unavailability_and_mirrors_are_not_sessions() -> None:
    blocks = [
        platform_entry(1, "unavailability:1", at(9), at(12)),
        platform_entry(
            1, "unavailability:2", at(9), at(12), origin="exchange", source_item_id="own"
        ),
    ]
    found = clashes(trainers((1, "both")), blocks, [item(1, "own", 10, 11)])
    assert found.empty


def test_only_trainers_that_were_read_with_sessions_pushed_to_outlook() -> None:
    people = pd.concat(
        [
            trainers((1, "both"), (2, "out"), (3, "in")),
            trainers((4, "both"), exchange_read=False),
            trainers((5, "both"), calendar_enabled=False),
        ],
        ignore_index=True,
    )
    entries = [session(t, t, 9, 12) for t in range(1, 6)]
    items = [item(t, f"own-{t}", 10, 11) for t in range(1, 6)]
    assert [t for t, _, _ in pairs(clashes(people, entries, items))] == [1, 2]


def test_a_session_and_an_item_of_different_trainers_do_not_clash() -> None:
    found = clashes(
        trainers((1, "both"), (2, "both")), [session(1, 1, 9, 12)], [item(2, "own", 10, 11)]
    )
    assert found.empty


def test_touching_intervals_do_not_clash() -> None:
    found = clashes(
        trainers((1, "both")),
        [session(1, 1, 9, 12)],
        [item(1, "before", 8, 9), item(1, "after", 12, 13), item(1, "empty", 10, 10)],
    )
    assert found.empty


def test_only_the_window_counts() -> None:
    # The default window reaches 7 days back: a clash that ended before it is not reported,
    # one that ends inside it is.
    old, recent = "2026-11-10", "2026-11-20"
    found = clashes(
        trainers((1, "both")),
        [session(1, 1, 9, 12, day=old), session(1, 2, 9, 12, day=recent)],
        [item(1, "old", 10, 11, day=old), item(1, "recent", 10, 11, day=recent)],
    )
    assert pairs(found) == [(1, "session:2", "recent")]


def test_one_session_over_several_items_is_one_clash_each() -> None:
    found = clashes(
        trainers((1, "both")),
        [session(1, 1, 9, 17)],
        [item(1, "b", 13, 14), item(1, "a", 9, 10), item(1, "all-day", 0, 24, all_day=True)],
    )
    assert pairs(found) == [
        (1, "session:1", "all-day"),
        (1, "session:1", "a"),
        (1, "session:1", "b"),
    ]


def test_the_message_says_times_and_status_never_the_items_text() -> None:
    found = clashes(
        trainers((1, "both")),
        [session(1, 1, 9, 12)],
        [
            item(
                1, "own", 10, 11, subject="Therapy", location="Clinic", body="Dr Who", show_as="OOF"
            )
        ],
    )
    (message,) = clash_messages(found, pd.Series(["ann@acme.test"]), "Europe/London")
    assert message == (
        "ann@acme.test: the session First Aid, Thu 26 Nov 2026, 09:00–12:00 (Europe/London) "
        "overlaps their own Outlook item shown as OOF, Thu 26 Nov 2026, 10:00–11:00."
    )
    assert not {"Therapy", "Clinic", "Dr Who"} & set(
        " ".join(found.astype(str).values.ravel()).split()
    )


# ------------------------------------------------------------------ overlap, as properties


INTERVALS = st.lists(
    st.tuples(st.integers(1, 3), st.integers(0, 40), st.integers(0, 12)), max_size=25
)


def _sides(rows: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    group = np.array([g for g, _, _ in rows], dtype=np.int64)
    start = np.array([s for _, s, _ in rows], dtype=np.int64)
    end = start + np.array([n for _, _, n in rows], dtype=np.int64)
    return group, start, end


def _brute_force(left, right) -> set[tuple[int, int]]:
    return {
        (i, j)
        for i, (lg, ls, le) in enumerate(zip(*left, strict=True))
        for j, (rg, rs, re) in enumerate(zip(*right, strict=True))
        if lg == rg and ls < le and rs < re and ls < re and rs < le
    }


@given(INTERVALS, INTERVALS)
def test_overlapping_finds_exactly_the_pairs_that_share_time(lefts, rights) -> None:
    left, right = _sides(lefts), _sides(rights)
    found = list(zip(*overlapping(left, right), strict=True))
    assert found == sorted(_brute_force(left, right))  # each pair once, in order


@given(INTERVALS, INTERVALS)
def test_overlap_is_symmetric(lefts, rights) -> None:
    left, right = _sides(lefts), _sides(rights)
    one_way = set(zip(*overlapping(left, right), strict=True))
    other_way = {(i, j) for j, i in zip(*overlapping(right, left), strict=True)}
    assert one_way == other_way


@given(st.integers(0, 100), st.integers(1, 50), st.integers(1, 50))
def test_intervals_that_touch_never_overlap(a: int, first: int, second: int) -> None:
    b, c = a + first, a + first + second
    left = (np.array([1]), np.array([a]), np.array([b]))
    right = (np.array([1]), np.array([b]), np.array([c]))
    assert len(overlapping(left, right)[0]) == 0
    assert len(overlapping(right, left)[0]) == 0


SHOW = st.sampled_from(["Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData"])


@st.composite
def calendars(draw: st.DrawFn) -> tuple[list[dict], list[dict]]:
    entries = [
        session(tid, n, start, start + length)
        for n, (tid, start, length) in enumerate(
            draw(
                st.lists(
                    st.tuples(st.integers(1, 3), st.integers(0, 20), st.integers(0, 6)), max_size=8
                )
            ),  # fmt: skip
            start=1,
        )
    ]
    items = [
        item(tid, f"own-{n}", start, start + length, show_as=show, is_cancelled=cancelled)
        for n, (tid, start, length, show, cancelled) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        st.integers(1, 3),
                        st.integers(0, 20),
                        st.integers(0, 6),
                        SHOW,
                        st.booleans(),
                    ),
                    max_size=10,
                )
            )  # fmt: skip
        )
    ]
    return entries, items


PEOPLE = trainers((1, "both"), (2, "out"), (3, "both"))


@settings(max_examples=50, deadline=None)
@given(calendars(), st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_row_order(sides, shuffle) -> None:
    entries, items = sides
    expected = clashes(PEOPLE, entries, items)
    shuffle.shuffle(entries)
    shuffle.shuffle(items)
    pd.testing.assert_frame_equal(clashes(PEOPLE.sample(frac=1, random_state=1), entries, items),
                                  expected)  # fmt: skip


@settings(max_examples=50, deadline=None)
@given(calendars())
def test_non_blocking_items_never_clash_and_every_clash_shares_time(sides) -> None:
    entries, items = sides
    found = clashes(PEOPLE, entries, items)
    by_id = {i["item_id"]: i for i in items}
    for row in found.to_dict("records"):
        own = by_id[row["item_id"]]
        assert own["show_as"] != "Free" and not own["is_cancelled"]
        assert row["session_start"] < row["busy_end"] and row["busy_start"] < row["session_end"]
    blocking = [i for i in items if i["show_as"] != "Free" and not i["is_cancelled"]]
    expected = sum(
        e["trainer_id"] == i["trainer_id"]
        and e["start"] < e["end"]
        and i["start"] < i["end"]
        and e["start"] < i["end"]
        and i["start"] < e["end"]
        for e in entries
        for i in blocking
    )
    assert len(found) == expected


# ------------------------------------------------------------------ first seen, resolved


def known(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(KNOWN_COLUMNS))


def stored(found: pd.DataFrame, ids: list[int], resolved: list[bool] | None = None):
    rows = found.assign(
        id=ids,
        first_seen_at=NOW - pd.Timedelta(days=1),
        last_seen_at=NOW - pd.Timedelta(days=1),
        resolved_at=[
            NOW - pd.Timedelta(hours=1) if r else None for r in resolved or [False] * len(ids)
        ],
    )
    return known(rows.to_dict("records"))


ANN_AND_BOB = trainers((1, "both"), (2, "both"))
ENTRIES = [session(1, 1, 9, 12), session(2, 2, 9, 12)]
ITEMS = [item(1, "ann", 10, 11), item(2, "bob", 10, 11)]


def test_a_clash_is_new_once_then_ongoing() -> None:
    found = clashes(ANN_AND_BOB, ENTRIES, ITEMS)
    first = reconcile(known([]), found, {1, 2}, NOW)
    assert pairs(first.new) == pairs(found) and first.ongoing.empty and first.resolved == []
    assert first.current["new"].tolist() == [True, True]
    again = reconcile(stored(found, [10, 11]), found, {1, 2}, NOW)
    assert again.new.empty and again.resolved == []
    assert again.ongoing["id"].tolist() == [10, 11]
    assert not again.current["new"].any()
    assert (again.current["first_seen_at"] == NOW - pd.Timedelta(days=1)).all()


def test_a_clash_gone_from_a_judged_trainer_is_resolved() -> None:
    found = clashes(ANN_AND_BOB, ENTRIES, ITEMS)
    later = clashes(ANN_AND_BOB, ENTRIES, [item(1, "ann", 13, 14), item(2, "bob", 10, 11)])
    changes = reconcile(stored(found, [10, 11]), later, {1, 2}, NOW)
    assert changes.resolved == [10] and changes.new.empty
    assert pairs(changes.current) == [(2, "session:2", "bob")]


def test_a_trainer_not_judged_keeps_its_clashes() -> None:
    found = clashes(ANN_AND_BOB, ENTRIES, ITEMS)
    changes = reconcile(stored(found, [10, 11]), found.iloc[0:0], {1}, NOW)
    assert changes.resolved == [10]
    assert pairs(changes.current) == [(2, "session:2", "bob")]


def test_a_resolved_clash_that_comes_back_is_new_again_on_its_old_row() -> None:
    found = clashes(ANN_AND_BOB, ENTRIES, ITEMS)
    changes = reconcile(stored(found, [10, 11], resolved=[True, False]), found, {1, 2}, NOW)
    assert pairs(changes.new) == [(1, "session:1", "ann")]
    assert changes.new["id"].tolist() == [10]
    assert (changes.new["first_seen_at"] == NOW).all()
    assert changes.current["new"].tolist() == [True, False]
