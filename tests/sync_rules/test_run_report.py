"""A run's list of changes: user text stays text, failures come first, the list is capped and
ends with the command that shows all of it."""

from __future__ import annotations

from typing import Any

from sync_rules.run_report import changes_markdown


def change(
    outcome: str = "applied", summary: str = "create 'Excel — Leeds': Mon 7 Dec"
) -> dict[str, Any]:
    return {
        "side": "exchange",
        "action": "create",
        "reason": "new_in_platform",
        "outcome": outcome,
        "summary": summary,
        "entry_key": "session:1",
        "item_id": None,
    }


def test_course_names_and_subjects_are_data_not_markup() -> None:
    hostile = "create 'A | B <script>alert(1)</script> **bold** [x](http://e)': Mon"
    text = changes_markdown(
        "Acme", [{"trainer": "ann@acme.test", "changes": [change(summary=hostile)]}], "r1", False
    )
    row = next(line for line in text.splitlines() if line.startswith("| ann"))
    assert row.count(" | ") == 4  # the cell's | did not split the row
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "\\*\\*bold\\*\\*" in text and "\\[x\\]" in text


def test_failed_and_held_changes_lead_and_the_list_is_capped() -> None:
    records = [
        {"trainer": f"t{n:03}@acme.test", "changes": [change("failed" if n == 70 else "applied")]}
        for n in range(80)
    ]
    text = changes_markdown(
        "Acme", records, "0f8c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5", False, shown=50
    )
    rows = [line for line in text.splitlines() if line.startswith("| t0")]
    assert len(rows) == 50 and rows[0].startswith("| t070@acme.test")
    assert "80 changes; the first 50, failed and held ones first." in text
    assert text.endswith(
        "Every change of this run (the other 30), with its item and time: "
        "`trainer-sync history --run 0f8c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5`"
    )


def test_a_dry_run_and_a_quiet_run_say_so() -> None:
    records = [{"trainer": "ann@acme.test", "changes": [change("planned")]}]
    assert "run it again without `--dry-run`" in changes_markdown("Acme", records, "r", True)
    assert changes_markdown("Acme", [{"trainer": "a", "changes": []}], "r", False).endswith(
        "No changes in this run."
    )
