"""The trainers' side: their Outlook, signed in as themselves, reading and editing their
own calendar through EWS as Outlook does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from trainer_sync.demo.cast import TRAINER_PASSWORD


def outlook(ews_url: str, mailbox: str) -> Any:
    """The trainer's own Exchange account (their password, their mailbox)."""
    from exchangelib import DELEGATE, Account, Build, Configuration, Credentials, Version

    return Account(
        primary_smtp_address=mailbox,
        config=Configuration(
            service_endpoint=ews_url,
            credentials=Credentials(mailbox, TRAINER_PASSWORD),
            version=Version(build=Build(15, 2, 0, 0)),
        ),
        autodiscover=False,
        access_type=DELEGATE,
    )


@dataclass(frozen=True)
class OutlookItem:
    """A calendar item as the trainer's Outlook shows it."""

    subject: str
    start: pd.Timestamp
    end: pd.Timestamp
    all_day: bool
    location: str
    body: str


def _bounds(item: Any, tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC start and end; an all-day item spans whole days in `tz`, as the sync reads it."""
    from sync_rules.render import all_day_bounds

    if item.is_all_day:
        start, end = all_day_bounds(item.start, item.end, tz)
        return start, end
    return pd.Timestamp(item.start).tz_convert("UTC"), pd.Timestamp(item.end).tz_convert("UTC")


def _as_shown(item: Any, tz: str) -> OutlookItem:
    start, end = _bounds(item, tz)
    return OutlookItem(
        subject=item.subject or "",
        start=start,
        end=end,
        all_day=bool(item.is_all_day),
        location=item.location or "",
        body=item.text_body or "",
    )


def calendar(ews_url: str, mailbox: str, tz: str) -> list[OutlookItem]:
    """Every item of the trainer's calendar, by start time, read from Exchange."""
    account = outlook(ews_url, mailbox)
    fields = ("subject", "start", "end", "is_all_day", "location", "text_body")
    items = [_as_shown(item, tz) for item in account.calendar.all().only(*fields)]
    return sorted(items, key=lambda i: (i.start, i.subject))


def delete_first_and_rename_second(
    ews_url: str, mailbox: str, tz: str
) -> tuple[OutlookItem, OutlookItem]:
    """The seed's FAQ, as a trainer does it in Outlook: delete their first item and rename
    their second to "Not going". Returns both as they were before."""
    account = outlook(ews_url, mailbox)
    first, second = sorted(account.calendar.all(), key=lambda i: i.start)[:2]
    before = (_as_shown(first, tz), _as_shown(second, tz))
    first.delete()
    second.subject = "Not going"
    second.save(update_fields=["subject"])
    return before
