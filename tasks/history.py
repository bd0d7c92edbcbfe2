"""Recording a provider run: history rows, change-gate cursors, and the run's artifacts."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from sqlalchemy.orm import Session

from connectors.platform.state import (
    finish_run,
    load_health,
    record_changes,
    save_access,
    save_cursor,
    save_health,
    start_run,
)
from sync_rules.health import Health, after_run, attention_order, short_error
from sync_rules.run_report import changes_markdown
from sync_rules.text import markdown_text, plural
from sync_rules.vocabulary import SIDES
from tasks import clashes
from tasks.context import ProviderRun
from tasks.exchange import TrainerOutcome
from tasks.resources import Resources

VERBS = (("create", "created"), ("update", "updated"), ("delete", "deleted"))
COUNT_COLUMNS = tuple(f"{side}_{done}" for side in SIDES for _, done in (*VERBS, ("held", "held")))
#: The health table a run publishes: what an operator reads first comes first.
TABLE_COLUMNS = (
    "trainer",
    "status",
    "failures_in_a_row",
    "last_success",
    "last_error",
    "changes_this_run",
    "direction",
)
#: How the health table and the CLI show a time.
WHEN = "%Y-%m-%d %H:%M UTC"


def artifact_key(provider: str) -> str:
    """A stable artifact key per provider (lowercase letters, digits and dashes)."""
    return "trainer-sync-" + (re.sub(r"[^a-z0-9]+", "-", provider.lower()).strip("-") or "provider")


def _key(
    trainer_id: pd.Series, action: pd.Series, entry_key: pd.Series, item_id: pd.Series
) -> pd.Series:
    parts = [trainer_id, action, entry_key, item_id]
    return pd.Series(
        ["|".join(p) for p in zip(*(c.fillna("").astype(str) for c in parts), strict=True)],
        index=trainer_id.index,
        dtype=object,
    )


def with_outcomes(plan: pd.DataFrame, outcomes: Sequence[TrainerOutcome]) -> pd.DataFrame:
    """The plan with what became of each row: applied, held, failed or planned (dry run)."""
    status = plan["trainer_id"].map({o.trainer.trainer_id: o.status for o in outcomes})
    failed = pd.DataFrame(
        [
            (o.trainer.trainer_id, r["action"], r["entry_key"], r["item_id"])
            for o in outcomes
            for r in o.write_results
            if not r["ok"]
        ],
        columns=["trainer_id", "action", "entry_key", "item_id"],
        dtype=object,
    )
    unwritten = {o.trainer.trainer_id for o in outcomes if o.failed and not o.write_results}
    exchange = plan["side"] == "exchange"
    write_failed = exchange & (
        plan["trainer_id"].isin(unwritten)
        | _key(plan["trainer_id"], plan["action"], plan["entry_key"], plan["item_id"]).isin(
            _key(failed["trainer_id"], failed["action"], failed["entry_key"], failed["item_id"])
        )
    )
    held = plan["held"].astype(bool)
    outcome = np.select(
        [held, status.eq("planned"), write_failed],
        ["held", "planned", "failed"],
        default="applied",
    )
    return plan.assign(outcome=outcome)


def counts_by_trainer(changes: pd.DataFrame) -> dict[tuple[int, str], int]:
    """(trainer_id, column) → count, for the count columns of the table artifact."""
    done = dict(VERBS)
    kind = changes["action"].map(done).where(changes["outcome"].isin(["applied", "planned"]))
    kind = kind.where(changes["outcome"] != "held", "held")
    column = changes["side"] + "_" + kind
    sizes = changes.assign(column=column).dropna(subset=["column"])
    grouped = sizes.groupby(["trainer_id", "column"]).size()
    return {(int(trainer), str(column)): int(n) for (trainer, column), n in grouped.items()}


#: The fields of each change a trainer record lists (`trainer-sync sync` prints them).
CHANGE_FIELDS = ("side", "action", "reason", "outcome", "entry_key", "item_id", "summary")


def changes_by_trainer(changes: pd.DataFrame) -> dict[int, list[dict[str, Any]]]:
    """Each trainer's changes (the plan with outcomes), as plain rows of CHANGE_FIELDS; one
    pass over the plan, whatever the number of trainers."""
    if not len(changes):
        return {}
    shown = changes[["trainer_id", *CHANGE_FIELDS]].astype(object)
    shown = shown.where(shown.notna(), None)
    return {
        int(tid): rows[list(CHANGE_FIELDS)].to_dict("records")
        for tid, rows in shown.groupby("trainer_id", sort=False)
    }


def trainer_record(
    outcome: TrainerOutcome,
    counts: dict[tuple[int, str], int],
    changes: dict[int, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """One trainer's result: its status, the count columns and (given `changes`, from
    `changes_by_trainer`) each change. A trainer whose plan the mass-deletion guard held is
    `held`, not `synced`: nothing of the held part was written."""
    tid = outcome.trainer.trainer_id
    own = {column: int(counts.get((tid, column), 0)) for column in COUNT_COLUMNS}
    held = own["exchange_held"] + own["platform_held"]
    return {
        "trainer": outcome.trainer.email,
        "direction": outcome.trainer.direction,
        "status": "held" if held and not outcome.failed else outcome.status,
        **own,
        "error": outcome.error or "",
        "changes": (changes or {}).get(tid, []),
    }


def totals(records: Sequence[dict[str, Any]]) -> dict[str, int]:
    """The count columns summed over trainers."""
    return {column: sum(int(r[column]) for r in records) for column in COUNT_COLUMNS}


def changes_text(record: dict[str, Any]) -> str:
    """A trainer's changes of one run on one line: "Outlook +1 ~0 -0, platform +0 ~0 -1"."""
    if not any(record[c] for c in COUNT_COLUMNS):
        return "none"
    parts = [
        f"{label} +{record[f'{side}_created']} ~{record[f'{side}_updated']} "
        f"-{record[f'{side}_deleted']}"
        for side, label in (("exchange", "Outlook"), ("platform", "platform"))
    ]
    held = record["exchange_held"] + record["platform_held"]
    return ", ".join(parts) + (f", held {held}" if held else "")


def with_health(
    records: list[dict[str, Any]], healths: dict[str, Health | None]
) -> list[dict[str, Any]]:
    """The records with each trainer's health after the run (by email), ordered so that the
    trainers needing attention come first."""
    shown = []
    for record in records:
        health = healths.get(record["trainer"])
        success = health.last_success_at if health else None
        shown.append(
            {
                **record,
                "failures_in_a_row": health.failures_in_a_row if health else 0,
                "last_success": success.strftime(WHEN) if success else "never",
                "last_error": short_error(record["error"]),
                "changes_this_run": changes_text(record),
            }
        )
    return sorted(
        shown, key=lambda r: attention_order(r["status"], r["failures_in_a_row"], r["trainer"])
    )


def _fix(run: ProviderRun, record: dict[str, Any]) -> str:
    """What to do about a trainer that needs attention, as Markdown (its text escaped)."""
    if record["status"] == "held":
        command = (
            f"trainer-sync sync --provider {shlex.quote(run.provider)} "
            f"--trainer {shlex.quote(record['trainer'])} --allow-mass-delete"
        )
        return (
            "The mass-deletion guard held this trainer's deletions; nothing of them was "
            f"written. If they are intended, apply them with `{command.replace('`', '')}`."
        )
    return markdown_text(record["error"])


def _markdown(run: ProviderRun, records: list[dict[str, Any]]) -> str:
    """The run's summary: the trainers needing attention first, each with its fix."""
    total = totals(records)
    mode = " (dry run: nothing written)" if run.dry_run else ""
    problems = [r for r in records if r["status"] in ("failed", "held")]
    lines = [f"# Sync of {markdown_text(run.provider)}{mode}", ""]
    if problems:
        lines += [f"## Needs attention: {plural(len(problems), 'trainer')}", ""]
        for r in problems:
            streak = r["failures_in_a_row"]
            since = f"failed {plural(streak, 'run')} in a row, " if streak > 1 else ""
            lines.append(
                f"- **{markdown_text(r['trainer'])}** ({r['status']}; {since}last success "
                f"{r['last_success']}): {_fix(run, r)}"
            )
        lines.append("")
    else:
        lines += ["Every trainer is in step.", ""]
    failures = sum(r["status"] == "failed" for r in records)
    idle = sum(r["status"] == "idle" for r in records)
    lines += [
        "## This run",
        "",
        f"- {plural(len(records), 'trainer')}: {idle} idle, {failures} failed",
    ]
    for side in SIDES:
        lines.append(
            f"- {side}: {total[f'{side}_created']} created, {total[f'{side}_updated']} updated, "
            f"{total[f'{side}_deleted']} deleted, {total[f'{side}_held']} held"
        )
    return "\n".join(lines)


@task(name="record-history", cache_policy=NO_CACHE, timeout_seconds=600)
def record_history(
    resources: Resources,
    run: ProviderRun,
    outcomes: list[TrainerOutcome],
    plan: pd.DataFrame,
    fingerprints: dict[int, str],
    found: clashes.FoundClashes,
    flow_run_id: str | None,
) -> list[dict[str, Any]]:
    """Write sync_runs / sync_changes, cursors, each trainer's health and the clashes (not in
    a dry run), in one transaction; announce the clashes seen for the first time once it has
    committed; publish the artifacts (in a flow run: outside one there is no run to show them
    on).

    Returns one record per trainer, trainers needing attention first, as the health table
    artifact shows them.
    """
    if run.dry_run:
        outcomes = [replace(o, status="planned") if o.status == "read" else o for o in outcomes]
    changes = with_outcomes(plan, outcomes)
    counts = counts_by_trainer(changes)
    listed = changes_by_trainer(changes)
    records = [trainer_record(o, counts, listed) for o in outcomes]
    ids = [o.trainer.trainer_id for o in outcomes]

    with resources.snapshot() as session:
        before = load_health(session, ids)
        clash_changes = clashes.compare(run, clashes.known_clashes(session, ids), found)
    after = {
        o.trainer.trainer_id: after_run(
            before.get(o.trainer.trainer_id), r["status"], o.error, run.now
        )
        for o, r in zip(outcomes, records, strict=True)
    }
    if not run.dry_run:
        with resources.store() as session:
            _write_history(session, run, outcomes, records, changes, fingerprints, flow_run_id)
            save_health(session, {t: h for t, h in after.items() if h}, flow_run_id)
            clashes.store_clashes(session, run, clash_changes)
        clashes.announce(run, clash_changes)
    shown = with_health(
        records,
        {o.trainer.email: after[o.trainer.trainer_id] or before.get(o.trainer.trainer_id)
         for o in outcomes},
    )  # fmt: skip

    if flow_run_id is None:  # called outside a flow run: there is no run to show them on
        return shown
    # Only a run of the whole provider is "the latest sync" of it; a rerun of some trainers
    # (sync-trainer, `sync --trainer`) publishes its own artifacts without the provider's key.
    key = None if run.partial else artifact_key(run.provider)
    scope = f"{plural(len(shown), 'trainer')} of {run.provider}" if run.partial else run.provider
    create_table_artifact(
        key=key,
        table=[{c: r[c] for c in TABLE_COLUMNS} for r in shown],
        description=f"Per-trainer health after the latest sync of {scope}, problems first.",
    )
    create_markdown_artifact(key=f"{key}-summary" if key else None, markdown=_markdown(run, shown))
    create_markdown_artifact(
        key=f"{key}-changes" if key else None,
        markdown=changes_markdown(run.provider, shown, flow_run_id, run.dry_run),
        description=f"What the latest sync of {scope} changed, and why.",
    )
    clashes.publish(run, clash_changes, key, scope)
    return shown


def _write_history(
    session: Session,
    run: ProviderRun,
    outcomes: list[TrainerOutcome],
    records: list[dict[str, Any]],
    changes: pd.DataFrame,
    fingerprints: dict[int, str],
    flow_run_id: str | None,
) -> None:
    """sync_runs (the provider's, and one per trainer that was not idle), their changes, the
    permission checks and the change-gate cursors, in the caller's transaction."""
    failures = sum(o.failed for o in outcomes)
    changes_of = {int(t): rows for t, rows in changes.groupby("trainer_id")}
    provider_run = start_run(session, run.provider_id, None, flow_run_id, run.now)
    finish_run(
        session,
        provider_run.id,
        "failed" if failures else "completed",
        {**totals(records), "trainers": len(records), "failed": failures},
    )
    for outcome, record in zip(outcomes, records, strict=True):
        trainer = outcome.trainer
        if outcome.access is not None:
            problems = " ".join(p.message for p in outcome.access.problems) or None
            save_access(
                session, trainer.trainer_id, trainer.direction, outcome.access.ok, problems, run.now
            )
        _save_gate(session, outcome, record, fingerprints)
        if outcome.status in ("idle", "disabled"):
            continue  # idle cycles leave no history rows
        trainer_run = start_run(session, run.provider_id, trainer.trainer_id, flow_run_id, run.now)
        own = {k: record[k] for k in COUNT_COLUMNS}
        finish_run(session, trainer_run.id, record["status"], own, outcome.error)
        rows = changes_of.get(trainer.trainer_id)
        if rows is not None:
            record_changes(session, trainer_run.id, rows.to_dict("records"))


def _save_gate(
    session: Session,
    outcome: TrainerOutcome,
    record: dict[str, Any],
    fingerprints: dict[int, str],
) -> None:
    """Store the change-gate cursors of a trainer that is fully in step, and only then.

    A failed trainer, or one with held actions, keeps its old cursors, so the next cycle
    reads and plans it again (and reports the hold again).
    """
    trainer = outcome.trainer
    held = record["exchange_held"] or record["platform_held"]
    if outcome.failed or held or outcome.status in ("disabled", "planned"):
        return
    cursor = outcome.cursor_to_store
    fingerprint = fingerprints.get(trainer.trainer_id)
    unchanged = cursor == trainer.exchange_cursor and fingerprint == trainer.platform_fingerprint
    if unchanged and outcome.read_valid_until is None:
        return  # an idle cycle writes nothing
    save_cursor(
        session,
        trainer.trainer_id,
        exchange_sync_state=cursor,
        platform_fingerprint=fingerprint,
        read_valid_until=outcome.read_valid_until,
    )
