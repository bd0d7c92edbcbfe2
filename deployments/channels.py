"""Alert channels: the Prefect notification blocks the project's automations send to.

Each channel is a block named `trainer-sync-<name>` on the Prefect server: a generic webhook
(its URL kept as a secret of the block, so the UI shows no token), a Slack or Microsoft Teams
webhook, or email through SendGrid. The platform store never holds any of it.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit
from uuid import UUID

from prefect import get_client
from prefect.blocks.abstract import NotificationBlock
from prefect.blocks.core import Block
from prefect.blocks.notifications import (
    CustomWebhookNotificationBlock,
    MicrosoftTeamsWebhook,
    SendgridEmail,
    SlackWebhook,
)
from prefect.exceptions import ObjectNotFound
from pydantic import SecretStr

from sync_rules.errors import ConfigurationError
from tasks.events import PREFIX

Kind = Literal["webhook", "slack", "teams", "email"]
BLOCK_PREFIX = f"{PREFIX}-"
#: The block type of each kind, as Prefect names it.
BLOCK_TYPES: dict[str, Kind] = {
    "custom-webhook": "webhook",
    "slack-webhook": "slack",
    "ms-teams-webhook": "teams",
    "sendgrid-email": "email",
}
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLACK = re.compile(
    r"^https://hooks\.slack(-gov)?\.com/services/[A-Z0-9]+/[A-Z0-9]+/[A-Z0-9]+/?$", re.I
)
MAX_URL = 2000
#: The JSON a generic webhook receives; `subject` and `body` are filled in per notification.
WEBHOOK_JSON = {"source": PREFIX, "subject": "{{subject}}", "body": "{{body}}"}


@dataclass(frozen=True)
class Channel:
    """A configured channel, as `alerts list` shows it: never the secret part."""

    name: str
    kind: Kind
    target: str
    block_document_id: UUID


def check_name(name: str) -> str:
    """A channel's name: lowercase letters, digits and single dashes, up to 40 characters."""
    if not _NAME.match(name) or len(name) > 40:
        shown = name if len(name) <= 60 else name[:60] + "…"
        raise ConfigurationError(
            f"{shown!r} is not a usable alert channel name.",
            "Use up to 40 lowercase letters, digits and dashes, e.g. ops-webhook.",
        )
    return name


def _url(url: str, what: str, example: str) -> str:
    url = url.strip()
    parts = urlsplit(url) if len(url) <= MAX_URL else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        shown = url if len(url) <= 60 else url[:60] + "…"
        raise ConfigurationError(
            f"{shown!r} is not a {what} URL.", f"Give the full URL, e.g. {example}."
        )
    return url


def webhook_block(url: str) -> CustomWebhookNotificationBlock:
    """A generic webhook: POSTs `{"source", "subject", "body"}` as JSON to `url`."""
    url = _url(url, "webhook", "https://alerts.example.com/hooks/trainer-sync")
    return CustomWebhookNotificationBlock(
        name=PREFIX,
        url="{{url}}",
        json_data=WEBHOOK_JSON,
        headers=None,
        cookies=None,
        secrets={"url": url},  # type: ignore[arg-type]  # pydantic builds the SecretDict
    )


def slack_block(url: str) -> SlackWebhook:
    url = url.strip()
    if not _SLACK.match(url):
        raise ConfigurationError(
            "That is not a Slack incoming-webhook URL.",
            "Copy it from the Slack app's Incoming Webhooks page: "
            "https://hooks.slack.com/services/T…/B…/….",
        )
    return SlackWebhook(url=SecretStr(url))


def teams_block(url: str) -> MicrosoftTeamsWebhook:
    url = _url(url, "Microsoft Teams workflow", "https://prod-00.westeurope.logic.azure.com/...")
    try:
        return MicrosoftTeamsWebhook(url=SecretStr(url))
    except (ValueError, TypeError):
        raise ConfigurationError(
            "That is not a Microsoft Teams (Power Automate workflow) webhook URL.",
            "In Teams, add the 'Post to a channel when a webhook request is received' "
            "workflow and copy its URL.",
        ) from None


def email_block(to: list[str], sender: str, api_key: str) -> SendgridEmail:
    for address in [*to, sender]:
        if not _EMAIL.match(address) or len(address) > 320:
            raise ConfigurationError(
                f"{address[:80]!r} is not an email address.", "Give e.g. ops@example.com."
            )
    if not api_key.strip():
        raise ConfigurationError(
            "The SendGrid API key is empty.", "Pipe the key on standard input."
        )
    return SendgridEmail(api_key=SecretStr(api_key.strip()), sender_email=sender, to_emails=to)


def _target(kind: Kind, data: dict[str, object]) -> str:
    """What a channel sends to, without its secret part: a host, or the recipients."""
    if kind == "email":
        recipients = data.get("to_emails") or []
        return ", ".join(str(r) for r in recipients) if isinstance(recipients, list) else ""
    return {"webhook": "webhook", "slack": "Slack (hooks.slack.com)", "teams": "Microsoft Teams"}[
        kind
    ]


def list_channels() -> list[Channel]:
    """The project's channels on the Prefect server, by name."""
    found: list[Channel] = []
    with get_client(sync_client=True) as client:
        for document in client.read_block_documents(include_secrets=False):
            name = document.name or ""
            slug = document.block_type.slug if document.block_type else ""
            kind = BLOCK_TYPES.get(slug)
            if kind is None or not name.startswith(BLOCK_PREFIX) or document.is_anonymous:
                continue
            found.append(
                Channel(name[len(BLOCK_PREFIX) :], kind, _target(kind, document.data), document.id)
            )
    return sorted(found, key=lambda c: c.name)


def add_channel(name: str, block: NotificationBlock) -> Channel:
    """Save `block` as the channel `name`; refuses a name in use."""
    check_name(name)
    if any(c.name == name for c in list_channels()):
        raise ConfigurationError(
            f"There is already an alert channel named {name}.",
            f"Remove it first (trainer-sync alerts remove {name}), or pick another --name.",
        )
    block_id = block.save(BLOCK_PREFIX + name)
    return next(c for c in list_channels() if c.block_document_id == block_id)


def channel_named(name: str) -> Channel:
    for channel in list_channels():
        if channel.name == name:
            return channel
    raise ConfigurationError(
        f"There is no alert channel named {name[:80]!r}.",
        "See the channels with `trainer-sync alerts list`.",
    )


def remove_channel(name: str) -> Channel:
    """Delete the channel's block (the automations stop sending to it once updated)."""
    channel = channel_named(name)
    with get_client(sync_client=True) as client, suppress(ObjectNotFound):  # gone: the same end
        client.delete_block_document(channel.block_document_id)
    return channel


def send_test(channel: Channel) -> None:
    """Send a test notification through the channel, from this process."""
    slug = next(s for s, kind in BLOCK_TYPES.items() if kind == channel.kind)
    block = Block.load(f"{slug}/{BLOCK_PREFIX}{channel.name}")
    assert isinstance(block, NotificationBlock)
    block.notify(  # type: ignore[unused-coroutine]  # called from sync code it runs at once
        body=(
            "This is a test notification from trainer-sync: alerts of this Prefect server "
            f"reach the channel {channel.name}."
        ),
        subject="trainer-sync: test notification",
    )
