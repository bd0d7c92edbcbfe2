"""Recording a provider run: history rows, change-gate cursors, and the run's artifacts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from connectors.platform.db import transaction
from connectors.platform.state import (
    finish_run,
    record_changes,
    save_access,
    save_cursor,
    start_run,
)
from tasks.context import ProviderRun
from tasks.exchange import TrainerOutcome
from tasks.runtime import db_url

SIDES = ("exchange", "platform")
VERBS = (("create", "created"), ("update", "updated"), ("delete", "deleted"))
TABLE_COLUMNS = (
    "trainer",
    "direction",
    "status",
    *(f"{side}_{done}" for side in SIDES for _, done in (*VERBS, ("held", "held"))),
    "error",
)


def artifact_key(provider: str) -> str:
    """A stable artifact key per provider (lowercase letters, digits and dashes)."""
    return "trainer-sync-" + (re.sub(r"[^a-z0-9]+", "-", provider.lower()).strip("-") or "provider")


def _outcomes_of_changes(outcome: TrainerOutcome, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Plan rows of one trainer with what became of each: applied, held, failed, planned."""
    failed = {
        (r["action"], r["entry_key"], r["item_id"]) for r in outcome.write_results if not r["ok"]
    }
    changes = []
    for row in rows.to_dict("records"):
        if row["held"]:
            result = "held"
        elif outcome.status == "dry-run":
            result = "planned"
        elif (
            row["side"] == "exchange"
            and (outcome.status == "failed" and not outcome.write_results)
            or (
                row["side"] == "exchange"
                and (row["action"], row["entry_key"], row["item_id"]) in failed
            )
        ):
            result = "failed"
        else:
            result = "applied"
        changes.append({**row, "outcome": result})
    return changes


def trainer_record(outcome: TrainerOutcome, changes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "trainer": outcome.trainer.email,
        "direction": outcome.trainer.direction,
        "status": outcome.status,
    }
    for side in SIDES:
        for action, done in VERBS:
            record[f"{side}_{done}"] = sum(
                1
                for c in changes
                if c["side"] == side
                and c["action"] == action
                and c["outcome"] in ("applied", "planned")
            )
        record[f"{side}_held"] = sum(
            1 for c in changes if c["side"] == side and c["outcome"] == "held"
        )
    record["error"] = outcome.error or ""
    return record


def _markdown(run: ProviderRun, records: list[dict[str, Any]], failures: int) -> str:
    def total(column: str) -> int:
        return sum(int(r[column]) for r in records)

    mode = " (dry run: nothing written)" if run.dry_run else ""
    lines = [
        f"# Sync of {run.provider}{mode}",
        "",
        f"- trainers: {len(records)} ({sum(r['status'] == 'idle' for r in records)} idle, "
        f"{failures} failed)",
    ]
    for side in SIDES:
        lines.append(
            f"- {side}: {total(f'{side}_created')} created, {total(f'{side}_updated')} updated, "
            f"{total(f'{side}_deleted')} deleted, {total(f'{side}_held')} held"
        )
    problems = [r for r in records if r["error"]]
    if problems:
        lines += ["", "## Problems", ""]
        lines += [f"- **{r['trainer']}**: {r['error']}" for r in problems]
    return "\n".join(lines)


@task(name="record-history", cache_policy=NO_CACHE, timeout_seconds=600)
def record_history(
    run: ProviderRun,
    outcomes: list[TrainerOutcome],
    plan: pd.DataFrame,
    fingerprints: dict[int, str],
    flow_run_id: str | None,
) -> list[dict[str, Any]]:
    """Write sync_runs / sync_changes and cursors (not in a dry run); publish the artifacts.

    Returns one record per trainer, as shown in the table artifact.
    """
    by_trainer = {int(t): rows for t, rows in plan.groupby("trainer_id")}
    empty = plan.iloc[0:0]
    records, per_trainer_changes = [], {}
    for outcome in outcomes:
        if run.dry_run and outcome.status == "read":
            outcome = TrainerOutcome(outcome.trainer, "dry-run", rows=outcome.rows)
        changes = _outcomes_of_changes(outcome, by_trainer.get(outcome.trainer.trainer_id, empty))
        per_trainer_changes[outcome.trainer.trainer_id] = changes
        records.append(trainer_record(outcome, changes))
    failures = sum(o.failed for o in outcomes)

    if not run.dry_run:
        with transaction(db_url()) as session:
            totals = {k: sum(int(r[k]) for r in records) for k in TABLE_COLUMNS[3:-1]}
            provider_run = start_run(session, run.provider_id, None, flow_run_id)
            finish_run(
                session,
                provider_run.id,
                "failed" if failures else "completed",
                {**totals, "trainers": len(records), "failed": failures},
            )
            for outcome, record in zip(outcomes, records, strict=True):
                trainer = outcome.trainer
                if outcome.access is not None:
                    problems = " ".join(p.message for p in outcome.access.problems) or None
                    save_access(
                        session,
                        trainer.trainer_id,
                        trainer.direction,
                        outcome.access.ok,
                        problems,
                        run.now,
                    )
                _save_gate(session, outcome, record, fingerprints)
                if outcome.status in ("idle", "disabled"):
                    continue  # idle cycles leave no history rows
                trainer_run = start_run(session, run.provider_id, trainer.trainer_id, flow_run_id)
                counts = {k: record[k] for k in TABLE_COLUMNS[3:-1]}
                finish_run(session, trainer_run.id, outcome.status, counts, outcome.error)
                record_changes(
                    session,
                    trainer_run.id,
                    [
                        {**c, "trainer_id": trainer.trainer_id}
                        for c in per_trainer_changes[trainer.trainer_id]
                    ],
                )

    key = artifact_key(run.provider)
    create_table_artifact(
        key=key,
        table=[{c: r[c] for c in TABLE_COLUMNS} for r in records],
        description=f"Per-trainer results of the latest sync of {run.provider}.",
    )
    create_markdown_artifact(key=f"{key}-summary", markdown=_markdown(run, records, failures))
    return records


def _save_gate(session, outcome: TrainerOutcome, record: dict[str, Any], fingerprints) -> None:  # type: ignore[no-untyped-def]
    """Store the change-gate cursors of a trainer that is fully in step, and only then.

    A failed trainer, or one with held actions, keeps its old cursors, so the next cycle
    reads and plans it again (and reports the hold again).
    """
    trainer = outcome.trainer
    held = record["exchange_held"] or record["platform_held"]
    if outcome.failed or held or outcome.status in ("disabled", "dry-run"):
        return
    cursor = outcome.cursor_to_store
    fingerprint = fingerprints.get(trainer.trainer_id)
    if cursor == trainer.exchange_cursor and fingerprint == trainer.platform_fingerprint:
        return  # an idle cycle writes nothing
    save_cursor(
        session, trainer.trainer_id, exchange_sync_state=cursor, platform_fingerprint=fingerprint
    )
