"""`python -m trainer_sync.demo` (`make demo`): the story told in the package docstring."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

from sync_rules.errors import TrainerSyncError
from trainer_sync.demo import report
from trainer_sync.demo.cast import (
    DEMO_DIR,
    MASTER_PASSWORD,
    PASSWORD_ENV,
    PROVIDER,
    mailbox,
)
from trainer_sync.demo.emulator import demo_emulator, requested_port
from trainer_sync.demo.prefect_server import choose_prefect_server, closing_line
from trainer_sync.demo.report import say


def _sync(title: str, url: str) -> None:
    from flows.sync import sync_provider
    from tasks.resources import Recorder, Resources, using

    say(title)
    recorder = Recorder()
    with using(Resources.from_environment(database_url_override=url, observer=recorder)):
        state = sync_provider(provider=PROVIDER, return_state=True)
    print(state.message)
    if PROVIDER not in recorder.records:  # the run ended before recording any result
        raise SystemExit(f"The sync failed: {state.message}")


def _sync_and_report(title: str, url: str) -> None:
    since = datetime.now(UTC)
    _sync(title, url)
    report.print_changes(url, since)


def _show_first_course(ews_url: str, tz: str) -> None:
    """Ann's first course as her Outlook reads it back from Exchange (not as we rendered
    it): the venue's address and the joining-instruction links are what she works from."""
    from trainer_sync.demo.outlook import calendar

    say("Ann's first course, as her Outlook shows it (read back from Exchange as Ann)")
    items = calendar(ews_url, mailbox("ann"), tz)
    if not items:
        print("Ann's calendar is empty.")
        return
    report.print_outlook_item(items[0], tz)


def _play_faq(ews_url: str, url: str, tz: str) -> None:
    """The seed's FAQ: a trainer deletes a course from Outlook and edits another; the next
    sync puts both back, as the platform owns its items."""
    from trainer_sync.demo.outlook import delete_first_and_rename_second

    say("Ann deletes her first course in Outlook and renames her second")
    deleted, renamed = delete_first_and_rename_second(ews_url, mailbox("ann"), tz)
    print(f"Deleted {deleted.subject!r} ({report.item_when(deleted, tz)}).")
    print(f"Renamed {renamed.subject!r} ({report.item_when(renamed, tz)}) to 'Not going'.")
    _sync_and_report("Syncing again: the platform owns its items", url)


def _run() -> None:
    from trainer_sync.demo.seed import anchor, seed_exchange, seed_outlook, seed_store

    port = requested_port()  # a bad DEMO_EWS_PORT is refused before anything is written
    DEMO_DIR.mkdir(exist_ok=True)
    os.environ.setdefault(PASSWORD_ENV, MASTER_PASSWORD)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    url = f"sqlite:///{DEMO_DIR / 'trainer_sync.db'}"
    api_url = choose_prefect_server()
    monday, first_run = anchor()
    with demo_emulator(port, DEMO_DIR / "ews-state.json") as (ews_url, control):
        say("Seeding the platform and Exchange")
        seed_exchange(control)
        seed_store(url, ews_url, monday)
        seed_outlook(ews_url, monday)
        report.print_trainers(url)
        tz = report.display_timezone(url)

        _sync_and_report("Syncing the provider", url)
        report.explain_in_trainers(url, tz)
        _show_first_course(ews_url, tz)
        if first_run:
            _play_faq(ews_url, url, tz)
    say("Done")
    print(closing_line(api_url))


def main() -> int:
    from trainer_sync.cli.output import print_error

    try:
        _run()
    except TrainerSyncError as exc:
        print_error(exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
