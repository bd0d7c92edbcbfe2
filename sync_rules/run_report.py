"""What a run changed and why, as the Markdown an operator reads on the run's page.

Each change names its trainer, the Outlook item or platform entry by the row's summary (the
engine's own rendering, or "Unavailable" and times: never a trainer's private details), the
action, the reason in words, and the outcome. Failed and held changes come first; the list
stops at `CHANGES_SHOWN` and ends with the command that lists all of them.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from sync_rules.reasons import EXPLAINED
from sync_rules.text import markdown_text, plural

#: Changes listed on the run's page; the history holds all of them.
CHANGES_SHOWN = 50
#: Outcomes in the order they are listed: what needs a look first.
_OUTCOME_ORDER = {"failed": 0, "held": 1, "applied": 2, "planned": 3}
_SIDE = {"exchange": "Outlook", "platform": "platform"}


def changes_markdown(
    provider: str,
    records: Sequence[Mapping[str, Any]],
    flow_run_id: str | None,
    dry_run: bool,
    shown: int = CHANGES_SHOWN,
) -> str:
    """The run's changes, trainer by trainer, as a Markdown table (see the module doc)."""
    rows = [(r["trainer"], c) for r in records for c in r.get("changes", [])]
    mode = " (dry run: none written)" if dry_run else ""
    title = f"# Changes of {markdown_text(provider)}{mode}"
    if not rows:
        return f"{title}\n\nNo changes in this run."
    rows.sort(key=lambda tc: (_OUTCOME_ORDER.get(tc[1]["outcome"], 9), tc[0].lower()))
    lines = [
        title,
        "",
        plural(len(rows), "change")
        + (f"; the first {shown}, failed and held ones first." if len(rows) > shown else "."),
        "",
        "| trainer | change | in | why | outcome |",
        "| --- | --- | --- | --- | --- |",
    ]
    for trainer, change in rows[:shown]:
        # The summary names the action, the item and its times ("create 'Excel — Leeds': …").
        what = change.get("summary") or (
            f"{change['action']} {change.get('entry_key') or change.get('item_id') or ''}"
        )
        reason = change["reason"]
        lines.append(
            "| "
            + " | ".join(
                markdown_text(cell)
                for cell in (
                    trainer,
                    what,
                    _SIDE.get(change["side"], change["side"]),
                    EXPLAINED.get(reason, reason),
                    change["outcome"],
                )
            )
            + " |"
        )
    lines.append("")
    if dry_run:
        lines.append("A dry run records nothing: run it again without `--dry-run` to apply these.")
    elif flow_run_id:
        rest = f" (the other {len(rows) - shown})" if len(rows) > shown else ""
        lines.append(
            f"Every change of this run{rest}, with its item and time: "
            f"`trainer-sync history --run {shlex.quote(flow_run_id)}`"
        )
    return "\n".join(lines)
