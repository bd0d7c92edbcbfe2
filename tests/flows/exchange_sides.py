"""The two Exchange backends, as a flow test sees them: a stand-in to point a service at,
mailboxes with rights for the master account, and trainers editing their own calendars.

`EwsSide` drives the EWS emulator with exchangelib signed in as the trainer; `GraphSide`
drives the Graph stand-in with the trainer's own token, as Outlook would. Both hand back
items in one shape: id, subject, body, location, start, end (UTC datetimes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import requests
from exchangelib import DELEGATE, Account, Build, Configuration, Credentials, FailFast, Version
from exchangelib import CalendarItem as OutlookItem
from exchangelib.recurrence import DailyPattern, NoEndPattern, Recurrence, WeeklyPattern

from connectors.exchange.config import ServiceConfig
from connectors.exchange.ews_ops import TAG_FIELD
from connectors.exchange.graph_ops import SHOW_AS_IN, SHOW_AS_OUT, tag_value
from connectors.exchange.tag import GRAPH_TAG_PROPERTY_ID, TAG_PROPERTY_NAME
from emulators.ews import EwsEmulator
from emulators.graph import GraphEmulator
from emulators.graph.events import instant, render_dtz

DOMAIN = "acme.test"
MASTER = f"master@{DOMAIN}"
MASTER_PW = "master-pw"
TRAINER_PW = "trainer-pw"
SECRET_ENV = "ACME_EXCHANGE_SECRET"
TENANT, APP = "acme-tenant", "trainer-sync-app"


@dataclass(frozen=True)
class Repeat:
    """How an own appointment recurs: every day or every week (on its start's weekday), for
    `count` occurrences, or without end (`count` None)."""

    every: Literal["day", "week"]
    count: int | None


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class _Side:
    """What both stand-ins share: counters, and a throttling storm with their own settings."""

    control: Any
    storm: dict[str, Any]

    def reset_counters(self) -> None:
        self.control.reset_counters()

    @contextmanager
    def throttling_storm(self) -> Iterator[None]:
        self.control.throttling(**self.storm)
        try:
            yield
        finally:
            self.control.throttling(clear=True)


class EwsSide(_Side):
    name = "ews"
    storm = {"max_concurrent": 1, "back_off_ms": 200}  # ErrorServerBusy + BackOffMilliseconds

    def __init__(self, emulator: EwsEmulator) -> None:
        self.emulator = emulator
        self.control = emulator.control

    def reset(self) -> None:
        self.control.reset()
        self.control.add_account(MASTER, MASTER_PW)

    def service_config(self) -> ServiceConfig:
        return ServiceConfig(
            name="acme-ews",
            endpoint=self.emulator.url,
            username=MASTER,
            secret_ref=f"env:{SECRET_ENV}",
            server_version="15.2",
        )

    def add_mailbox(self, mailbox: str, grant: str | None) -> None:
        self.control.add_account(mailbox, TRAINER_PW)
        if grant:
            self.control.grant(owner=mailbox, grantee=MASTER, kind="delegate", calendar_role=grant)

    def _outlook(self, mailbox: str) -> Account:
        return Account(
            primary_smtp_address=mailbox,
            config=Configuration(
                service_endpoint=self.emulator.url,
                credentials=Credentials(mailbox, TRAINER_PW),
                version=Version(build=Build(15, 2, 0, 0)),
                retry_policy=FailFast(),
            ),
            autodiscover=False,
            access_type=DELEGATE,
        )

    def items(self, mailbox: str) -> list[dict[str, Any]]:
        return [
            {
                "id": i["id"],
                "version": i["change_key"],
                "subject": i["subject"],
                "body": i.get("body") or "",
                "location": i.get("location") or "",
                "start": _utc(i["start"]),
                "end": _utc(i["end"]),
                "all_day": bool(i.get("is_all_day")),
                "show_as": i.get("show_as") or "Busy",
                "tag": (i.get("extended_properties") or {}).get(TAG_PROPERTY_NAME),
            }
            for i in self.control.items(mailbox, include_deleted=False)
            if i["folder"] == "calendar"
        ]

    def add_appointment(
        self,
        mailbox: str,
        subject: str,
        start: datetime,
        end: datetime,
        *,
        show_as: str = "Busy",
        repeat: Repeat | None = None,
        tag: str | None = None,
    ) -> str:
        account = self._outlook(mailbox)
        extra: dict[str, Any] = {}
        if repeat:
            pattern = (
                DailyPattern(interval=1)
                if repeat.every == "day"
                else WeeklyPattern(interval=1, weekdays=[start.isoweekday()])
            )
            if repeat.count is None:
                extra["recurrence"] = Recurrence(
                    pattern=pattern, boundary=NoEndPattern(start=start.date())
                )
            else:
                extra["recurrence"] = Recurrence(
                    pattern=pattern, start=start.date(), number=repeat.count
                )
        if tag is not None:  # a copy of the engine's item carries its tag along
            extra[TAG_FIELD] = tag
        item = OutlookItem(
            folder=account.calendar,
            subject=subject,
            start=start,
            end=end,
            body="Private details",
            location="Home",
            legacy_free_busy_status=show_as,
            **extra,
        )
        item.save()
        return str(item.id)

    def edit(self, mailbox: str, item_id: str, **fields: Any) -> None:
        item = self._outlook(mailbox).calendar.get(id=item_id)
        for name, value in fields.items():
            setattr(item, name, value)
        item.save(update_fields=list(fields))

    def set_show_as(self, mailbox: str, item_id: str, show_as: str) -> None:
        self.edit(mailbox, item_id, legacy_free_busy_status=show_as)

    def delete(self, mailbox: str, item_id: str) -> None:
        self._outlook(mailbox).calendar.get(id=item_id).delete()

    def requests(self) -> int:
        return int(self.control.counters()["total"])


class GraphSide(_Side):
    name = "graph"
    storm = {"max_concurrent": 1, "retry_after": 1}  # 429 + Retry-After

    def __init__(self, emulator: GraphEmulator) -> None:
        self.emulator = emulator
        self.control = emulator.control
        self.scope: list[str] = []

    def reset(self) -> None:
        self.control.reset()
        self.control.add_account(MASTER, MASTER_PW)
        self.scope = [MASTER]
        self._register()

    def _register(self) -> None:
        # RBAC for Applications: the app may open exactly the mailboxes in its scope.
        self.control.add_app(TENANT, APP, MASTER_PW, mailboxes=list(self.scope))

    def service_config(self) -> ServiceConfig:
        return ServiceConfig(
            name="acme-online",
            endpoint=self.emulator.url,
            username=MASTER,
            secret_ref=f"env:{SECRET_ENV}",
            backend="graph",
            auth_type="oauth2",
            access_type="impersonation",
            tenant_id=TENANT,
            client_id=APP,
            authority_host=self.emulator.authority,
            ca_bundle=self.emulator.ca_file,
        )

    def add_mailbox(self, mailbox: str, grant: str | None) -> None:
        if grant not in (None, "Editor"):
            raise ValueError(f"Graph grants are per app, not per role: {grant!r}")
        self.control.add_account(mailbox, TRAINER_PW)
        if grant:
            self.scope.append(mailbox)
            self._register()

    def _as_trainer(self, mailbox: str) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.verify = self.emulator.ca_file
        token = self.control.user_token(TENANT, mailbox, TRAINER_PW)
        session.headers.update(
            {"Authorization": f"Bearer {token}", "Prefer": 'outlook.timezone="UTC"'}
        )
        return session

    def items(self, mailbox: str) -> list[dict[str, Any]]:
        return [
            {
                "id": i["id"],
                "version": i.get("changeKey"),
                "subject": i.get("subject") or "",
                "body": (i.get("body") or {}).get("content") or "",
                "location": (i.get("location") or {}).get("displayName") or "",
                "start": instant(i["start"]),  # stored as written: local time and its zone
                "end": instant(i["end"]),
                "all_day": bool(i.get("isAllDay")),
                "show_as": SHOW_AS_IN.get(i.get("showAs") or "busy", "Busy"),
                "tag": tag_value(i),
            }
            for i in self.control.items(mailbox, include_deleted=False)
            if i.get("folder", "calendar") == "calendar"
        ]

    @staticmethod
    def _when(value: datetime) -> dict[str, str]:
        return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}

    def add_appointment(
        self,
        mailbox: str,
        subject: str,
        start: datetime,
        end: datetime,
        *,
        show_as: str = "Busy",
        repeat: Repeat | None = None,
        tag: str | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "subject": subject,
            "start": self._when(start),
            "end": self._when(end),
            "body": {"contentType": "text", "content": "Private details"},
            "location": {"displayName": "Home"},
            "showAs": SHOW_AS_OUT[show_as],
        }
        if repeat:
            pattern: dict[str, Any] = {"type": "daily", "interval": 1}
            if repeat.every == "week":
                pattern = {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": [start.strftime("%A").lower()],
                }
            first = start.date().isoformat()
            span: dict[str, Any] = {"type": "noEnd", "startDate": first}
            if repeat.count is not None:
                span = {"type": "numbered", "startDate": first, "numberOfOccurrences": repeat.count}
            body["recurrence"] = {"pattern": pattern, "range": span}
        if tag is not None:  # a copy of the engine's item carries its tag along
            body["singleValueExtendedProperties"] = [{"id": GRAPH_TAG_PROPERTY_ID, "value": tag}]
        response = self._as_trainer(mailbox).post(f"{self.emulator.url}/me/events", json=body)
        response.raise_for_status()
        return str(response.json()["id"])

    def edit(self, mailbox: str, item_id: str, **fields: Any) -> None:
        # Times in the event's own zone, as Outlook writes them: an all-day event must stay at
        # midnight there (midnight in London is 23:00 UTC in summer).
        (event,) = [i for i in self.control.items(mailbox) if i["id"] == item_id]
        zone = event["start"].get("timeZone") or "UTC"
        patch = {
            k: (render_dtz(v, zone) if isinstance(v, datetime) else v) for k, v in fields.items()
        }
        response = self._as_trainer(mailbox).patch(
            f"{self.emulator.url}/me/events/{item_id}", json=patch
        )
        response.raise_for_status()

    def set_show_as(self, mailbox: str, item_id: str, show_as: str) -> None:
        self.edit(mailbox, item_id, showAs=SHOW_AS_OUT[show_as])

    def delete(self, mailbox: str, item_id: str) -> None:
        response = self._as_trainer(mailbox).delete(f"{self.emulator.url}/me/events/{item_id}")
        response.raise_for_status()

    def requests(self) -> int:
        ops = dict(self.control.counters()["by_operation"])
        return sum(n for op, n in ops.items() if op not in ("token", "openid-configuration"))
