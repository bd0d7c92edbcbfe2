"""Values as long as the platform keeps reach Outlook fitted to what Exchange holds, and the
sync stays in step: the run after writes nothing (on EWS and on Graph)."""

from __future__ import annotations

from connectors.platform.models import Course
from connectors.platform.parsing import column_length
from flows.sync import sync_provider
from sync_rules.render import ELLIPSIS, SUBJECT_LIMIT
from tests.flows.conftest import World, tomorrow


def test_the_longest_course_name_syncs_fitted_and_stays_in_step(world: World) -> None:
    ann = world.trainer("ann", "out")
    course = "Advanced " + "Spreadsheets " * 40
    course = course[: column_length(Course.name)].strip()
    world.event(course, [tomorrow(9)], [ann])
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    (item,) = world.items(ann)
    assert len(item["subject"]) == SUBJECT_LIMIT and item["subject"].endswith(ELLIPSIS)
    assert item["body"].startswith(course)  # the body has room for the whole name

    # A trainer's edit is put back to the same fitted subject; then nothing more is written.
    world.side.edit(ann, item["id"], subject="Renamed in Outlook")
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    assert [i["subject"] for i in world.items(ann)] == [item["subject"]]
    state = sync_provider(provider="Acme", return_state=True)
    assert state.is_completed(), state.message
    assert "+0 ~0 -0" in (state.message or "")
