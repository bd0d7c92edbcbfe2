"""Secrets kept in Prefect Secret blocks: storing a typed secret, and resolving `prefect-secret:`.

Block documents are encrypted by the Prefect server (PREFECT_SERVER_ENCRYPTION_KEY), so the
platform database only ever holds the reference.
"""

from __future__ import annotations

import re

from prefect.blocks.system import Secret

from connectors.secrets import register_resolver
from sync_rules.errors import ConfigurationError


def secret_block_name(service_name: str) -> str:
    """A valid block name derived from a service name."""
    slug = re.sub(r"[^a-z0-9]+", "-", service_name.lower()).strip("-")
    return f"trainer-sync-{slug or 'service'}"


def store_secret(block_name: str, value: str) -> str:
    """Save `value` as a Prefect Secret block and return its reference."""
    if not value:
        raise ConfigurationError("The secret read from standard input is empty.", "Type it again.")
    Secret(value=value).save(block_name, overwrite=True)
    return f"prefect-secret:{block_name}"


def _load_secret(block_name: str) -> str:
    try:
        block = Secret.load(block_name)
    except ValueError:
        raise ConfigurationError(
            f"The Prefect Secret block {block_name!r} does not exist.",
            "Create it with `trainer-sync service add ... --secret-stdin`, or in the Prefect UI.",
        ) from None
    return str(block.get())


def install_prefect_secret_resolver() -> None:
    """Make `prefect-secret:` references resolvable in this process."""
    register_resolver("prefect-secret", _load_secret)


def delete_secret(block_name: str) -> None:
    """Remove a Secret block (e.g. one stored for a service that then failed verification)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        try:
            block = client.read_block_document_by_name(name=block_name, block_type_slug="secret")
        except Exception:  # already gone
            return
        client.delete_block_document(block.id)
