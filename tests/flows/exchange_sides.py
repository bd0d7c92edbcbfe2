"""The two Exchange backends, as a flow test sees them: a stand-in to point a service at,
mailboxes with rights for the master account, and trainers editing their own calendars.

`EwsSide` drives the EWS emulator with exchangelib signed in as the trainer; `GraphSide`
drives the Graph stand-in with the trainer's own token, as Outlook would. Both hand back
items in one shape: id, subject, body, location, start, end (UTC datetimes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import requests
from exchangelib import DELEGATE, Account, Build, Configuration, Credentials, FailFast, Version
from exchangelib import CalendarItem as OutlookItem
from exchangelib.recurrence import DailyPattern, Recurrence

from connectors.exchange.config import ServiceConfig
from emulators.ews import EwsEmulator
from emulators.graph import GraphEmulator

DOMAIN = "acme.test"
MASTER = f"master@{DOMAIN}"
MASTER_PW = "master-pw"
TRAINER_PW = "trainer-pw"
SECRET_ENV = "ACME_EXCHANGE_SECRET"
TENANT, APP = "acme-tenant", "trainer-sync-app"


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _graph_utc(value: dict[str, str]) -> datetime:
    """A Graph dateTimeTimeZone, answered in UTC (no offset in the text), as an aware time."""
    return datetime.fromisoformat(value["dateTime"]).replace(tzinfo=UTC)


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
                "subject": i["subject"],
                "body": i.get("body") or "",
                "location": i.get("location") or "",
                "start": _utc(i["start"]),
                "end": _utc(i["end"]),
            }
            for i in self.control.items(mailbox, include_deleted=False)
        ]

    def add_appointment(
        self,
        mailbox: str,
        subject: str,
        start: datetime,
        end: datetime,
        daily_count: int | None = None,
    ) -> str:
        account = self._outlook(mailbox)
        extra = {}
        if daily_count:
            extra["recurrence"] = Recurrence(
                pattern=DailyPattern(interval=1), start=start.date(), number=daily_count
            )
        item = OutlookItem(
            folder=account.calendar,
            subject=subject,
            start=start,
            end=end,
            body="Private details",
            location="Home",
            **extra,
        )
        item.save()
        return str(item.id)

    def edit(self, mailbox: str, item_id: str, **fields: Any) -> None:
        item = self._outlook(mailbox).calendar.get(id=item_id)
        for name, value in fields.items():
            setattr(item, name, value)
        item.save(update_fields=list(fields))

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
                "subject": i.get("subject") or "",
                "body": (i.get("body") or {}).get("content") or "",
                "location": (i.get("location") or {}).get("displayName") or "",
                "start": _graph_utc(i["start"]),
                "end": _graph_utc(i["end"]),
            }
            for i in self.control.items(mailbox, include_deleted=False)
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
        daily_count: int | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "subject": subject,
            "start": self._when(start),
            "end": self._when(end),
            "body": {"contentType": "text", "content": "Private details"},
            "location": {"displayName": "Home"},
        }
        if daily_count:
            body["recurrence"] = {
                "pattern": {"type": "daily", "interval": 1},
                "range": {
                    "type": "numbered",
                    "startDate": start.date().isoformat(),
                    "numberOfOccurrences": daily_count,
                },
            }
        response = self._as_trainer(mailbox).post(f"{self.emulator.url}/me/events", json=body)
        response.raise_for_status()
        return str(response.json()["id"])

    def edit(self, mailbox: str, item_id: str, **fields: Any) -> None:
        patch = {k: (self._when(v) if isinstance(v, datetime) else v) for k, v in fields.items()}
        response = self._as_trainer(mailbox).patch(
            f"{self.emulator.url}/me/events/{item_id}", json=patch
        )
        response.raise_for_status()

    def delete(self, mailbox: str, item_id: str) -> None:
        response = self._as_trainer(mailbox).delete(f"{self.emulator.url}/me/events/{item_id}")
        response.raise_for_status()

    def requests(self) -> int:
        ops = dict(self.control.counters()["by_operation"])
        return sum(n for op, n in ops.items() if op not in ("token", "openid-configuration"))
