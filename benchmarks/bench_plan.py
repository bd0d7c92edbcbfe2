"""Benchmark the pure sync plan: N trainers x 300 platform entries and 300 Exchange items each.

Directions are mixed (40% both, 30% out, 30% in) and every mailbox counts as read (the worst
case: no trainer skipped by the change gate). The state is in sync except for ~1% each of
new, changed, tampered, deleted and removed entries and items, plus ~2% of items whose
change key moved without a managed change (compared field by field, no write).

Time is wall time of `build_plan` (input validation, rendering, diff, guard, summaries and
output validation), best and median of `--repeat` runs after one warm-up on 10 trainers.
Memory is the process's peak RSS from `resource.getrusage(RUSAGE_SELF).ru_maxrss`: it
includes the generated inputs, so it is an upper bound of what planning needs; the RSS
before planning is printed alongside.

    .venv/bin/python benchmarks/bench_plan.py --trainers 1000
    .venv/bin/python benchmarks/bench_plan.py --scaling 100,1000,5000
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sync_rules.plan import build_plan  # noqa: E402
from sync_rules.render import render_entries  # noqa: E402
from sync_rules.rules import load_rules  # noqa: E402

NOW = pd.Timestamp("2026-11-25T08:00:00Z")
PER_TRAINER = 300
SHARE = 0.01


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _text(prefix: str, numbers: np.ndarray) -> np.ndarray:
    return prefix + numbers.astype(str).astype(object)


def _times(rng: np.random.Generator, n: int) -> tuple[pd.Series, pd.Series, np.ndarray]:
    # Spread over [-7 days, +60 days] on the hour, 1-8 hours long, 5% all-day (London days).
    hours = rng.integers(-7 * 24, 60 * 24, n)
    start = NOW.floor("h") + pd.to_timedelta(hours, unit="h")
    end = start + pd.to_timedelta(rng.integers(1, 9, n), unit="h")
    all_day = rng.random(n) < 0.05
    local = start.tz_convert("Europe/London").tz_localize(None).normalize()
    day_start = local.tz_localize("Europe/London").tz_convert("UTC")
    day_end = (local + pd.Timedelta(days=1)).tz_localize("Europe/London").tz_convert("UTC")
    start = np.where(all_day, day_start, start)
    end = np.where(all_day, day_end, end)
    return (
        pd.Series(pd.DatetimeIndex(start).as_unit("ns")),
        pd.Series(pd.DatetimeIndex(end).as_unit("ns")),
        all_day,
    )


def make_inputs(trainers: int, seed: int = 7) -> dict[str, object]:
    """Synced state plus ~1% perturbations per kind, built column-wise."""
    rng = np.random.default_rng(seed)
    rules = load_rules()
    ids = np.arange(1, trainers + 1)
    kind = np.array(["both"] * 4 + ["out"] * 3 + ["in"] * 3)[ids % 10]
    trainers_frame = pd.DataFrame(
        {
            "trainer_id": ids,
            "direction": kind,
            "calendar_enabled": True,
            "mailbox": _text("t", ids) + "@bench.test",
            "exchange_read": True,
        }
    )
    n_out = np.where(kind == "out", PER_TRAINER, np.where(kind == "both", PER_TRAINER // 2, 0))
    n_in = PER_TRAINER - n_out

    # Platform-origin entries (sessions, 10% unavailability) and their tagged items.
    t_out = np.repeat(ids, n_out)
    j_out = np.concatenate([np.arange(n) for n in n_out])
    m = len(t_out)
    start, end, all_day = _times(rng, m)
    is_unav = rng.random(m) < 0.1
    serial = _text("", t_out) + "-" + j_out.astype(str).astype(object)
    course = _text("Course ", rng.integers(0, 50, m))
    venue = _text("Venue ", rng.integers(0, 20, m))
    entries = pd.DataFrame(
        {
            "trainer_id": t_out,
            "entry_key": np.where(is_unav, "unavailability:", "session:") + serial,
            "kind": np.where(is_unav, "unavailability", "session"),
            "origin": "platform",
            "start": start,
            "end": end,
            "all_day": all_day,
            "course": np.where(is_unav, None, course),
            "venue": np.where(is_unav, None, venue),
            "venue_address": np.where(is_unav, None, venue + ", 1 High Street, Leeds"),
            "event_ref": np.where(is_unav, None, "EV" + serial),
            "event_url": np.where(is_unav, None, "https://platform.test/events/" + serial),
            "delegate_instructions_url": np.where(
                is_unav, None, "https://platform.test/ji/d/" + serial
            ),
            "trainer_instructions_url": np.where(
                is_unav, None, "https://platform.test/ji/t/" + serial
            ),
            "reason": np.where(is_unav, "Leave", None),
            "source_item_id": None,
        }
    )
    rendered = render_entries(entries, rules)
    tagged = pd.DataFrame(
        {
            "trainer_id": t_out,
            "item_id": "X" + serial,
            "change_key": "ck-X" + serial,
            "start": rendered["start"],
            "end": rendered["end"],
            "all_day": rendered["all_day"],
            "subject": rendered["subject"],
            "location": rendered["location"],
            "body": rendered["body"],
            "show_as": rendered["show_as"],
            "is_cancelled": False,
            "sensitivity": "Normal",
            "tag_key": entries["entry_key"],
            "tag_hash": rendered["content_hash"],
            "modified_by": "Master",
            "modified_at": pd.Timestamp("2026-01-05T09:00:00Z"),
        }
    )
    links = tagged[["trainer_id", "tag_key", "item_id", "change_key", "tag_hash"]].set_axis(
        ["trainer_id", "entry_key", "item_id", "change_key", "content_hash"], axis=1
    )

    # A trainer's own items and their "Unavailable" mirrors.
    t_in = np.repeat(ids, n_in)
    j_in = np.concatenate([np.arange(n) for n in n_in])
    k = len(t_in)
    o_start, o_end, o_all_day = _times(rng, k)
    o_serial = _text("", t_in) + "-" + j_in.astype(str).astype(object)
    own = pd.DataFrame(
        {
            "trainer_id": t_in,
            "item_id": "O" + o_serial,
            "change_key": "ck-O" + o_serial,
            # Deep copies: pandas 3.1 lets a .loc write on a frame built from a tz-aware
            # Series leak into that Series (and so into the mirrors built from it).
            "start": o_start.copy(deep=True),
            "end": o_end.copy(deep=True),
            "all_day": o_all_day,
            "subject": "Private appointment",
            "location": "Somewhere",
            "body": "Private notes",
            "show_as": "Busy",
            "is_cancelled": False,
            "sensitivity": "Private",
            "tag_key": None,
            "tag_hash": None,
            "modified_by": None,
            "modified_at": None,
        }
    )
    mirrors = pd.DataFrame({c: None for c in entries.columns}, index=own.index).assign(
        trainer_id=t_in,
        entry_key="unavailability:m" + o_serial,
        kind="unavailability",
        origin="exchange",
        start=o_start,
        end=o_end,
        all_day=o_all_day,
        source_item_id=own["item_id"],
    )

    # Perturbations, ~1% each.
    def pick(n: int, share: float = SHARE) -> np.ndarray:
        return rng.random(n) < share

    changed = pick(m)
    entries.loc[changed & ~is_unav, "course"] = "Renamed course"
    tampered = pick(m)
    tagged.loc[tampered, "subject"] = "Edited by the trainer"
    tagged.loc[tampered | pick(m, 2 * SHARE), "change_key"] = "ck-moved"
    removed_entries = pick(m)
    deleted_items = pick(m) & ~removed_entries
    new_entries = entries[pick(m)].assign(entry_key=lambda f: f["entry_key"] + "-new")
    moved_own = pick(k)
    own.loc[moved_own, "start"] = own.loc[moved_own, "start"] + pd.Timedelta(hours=1)
    own.loc[moved_own, "end"] = own.loc[moved_own, "end"] + pd.Timedelta(hours=1)
    removed_own = pick(k)
    new_own = own[pick(k)].assign(item_id=lambda f: f["item_id"] + "-new")

    # Text columns as pandas builds them from rows (the `str` dtype), like the extractors.
    for frame in (entries, mirrors, tagged, own):
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].astype("str")
    platform = pd.concat([entries[~removed_entries], new_entries, mirrors], ignore_index=True)
    exchange = pd.concat([tagged[~deleted_items], own[~removed_own], new_own], ignore_index=True)
    return {
        "trainers": trainers_frame,
        "platform": platform,
        "exchange": exchange,
        "links": links,
        "rules": rules,
        "now": NOW,
    }


def run(trainers: int, repeat: int) -> dict[str, object]:
    warm = make_inputs(10)
    build_plan(**warm)
    inputs = make_inputs(trainers)
    rss_before = _rss_mb()
    times, plan = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        plan = build_plan(**inputs)
        times.append(time.perf_counter() - t0)
    assert plan is not None
    counts = plan.groupby(["side", "action"]).size().to_dict()
    return {
        "trainers": trainers,
        "platform_rows": len(inputs["platform"]),
        "exchange_rows": len(inputs["exchange"]),
        "plan_rows": len(plan),
        "actions": {f"{s}/{a}": int(n) for (s, a), n in sorted(counts.items())},
        "best_s": round(min(times), 3),
        "median_s": round(statistics.median(times), 3),
        "rss_before_plan_mb": round(rss_before),
        "peak_rss_mb": round(_peak_rss_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainers", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scaling", help="comma-separated trainer counts, one process each")
    parser.add_argument("--json", action="store_true", help="print one JSON result")
    args = parser.parse_args()
    if args.scaling:
        results = []
        for n in (int(x) for x in args.scaling.split(",")):
            out = subprocess.run(
                [sys.executable, __file__, "--trainers", str(n), "--repeat", str(args.repeat),
                 "--json"],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            results.append(json.loads(out.stdout))
        base = results[0]
        print(f"{'trainers':>9} {'rows in':>10} {'best s':>8} {'median s':>9} "
              f"{'s/1k trainers':>14} {'peak RSS MB':>12}")  # fmt: skip
        for r in results:
            rows = r["platform_rows"] + r["exchange_rows"]
            per_k = r["best_s"] / r["trainers"] * 1000
            print(f"{r['trainers']:>9} {rows:>10} {r['best_s']:>8.3f} {r['median_s']:>9.3f} "
                  f"{per_k:>14.3f} {r['peak_rss_mb']:>12}")  # fmt: skip
        largest = results[-1]
        ratio = (largest["best_s"] / base["best_s"]) / (largest["trainers"] / base["trainers"])
        print(f"time per trainer at {largest['trainers']} vs {base['trainers']}: x{ratio:.2f}")
        return
    result = run(args.trainers, args.repeat)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
