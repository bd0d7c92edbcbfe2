"""Secrets kept in Prefect Secret blocks: storing a typed secret, and resolving `prefect-secret:`.

Block documents are encrypted by the Prefect server (PREFECT_SERVER_ENCRYPTION_KEY), so the
platform database only ever holds the reference. Prefect is imported only when a block is
used: commands that never touch one do not pay for it.
"""

from __future__ import annotations

from typing import cast

from connectors.secrets import SecretRef, SecretUnavailable
from sync_rules.errors import ConfigurationError


def store_secret(ref: SecretRef, value: str) -> None:
    """Save `value` as the Prefect Secret block that `ref` (`prefect-secret:BLOCK`) names."""
    from prefect.blocks.system import Secret
    from pydantic import SecretStr

    if not value:
        raise ConfigurationError("The secret read from standard input is empty.", "Type it again.")
    Secret(value=SecretStr(value)).save(ref.name, overwrite=True)


def load_prefect_secret(block_name: str) -> str:
    """Resolve a `prefect-secret:` reference: the value of that Secret block."""
    from prefect.blocks.system import Secret

    ref = f"prefect-secret:{block_name}"
    try:
        # `load` is awaitable only when called from async code; here it loads at once.
        block = cast("Secret[str]", Secret.load(block_name))
    except ValueError:
        raise SecretUnavailable(
            ref,
            f"the Prefect Secret block {block_name!r} does not exist",
            "Create it with `trainer-sync service add ... --secret-stdin`, or in the Prefect UI "
            "of the Prefect server this run uses.",
        ) from None
    except Exception as exc:  # the Prefect API is down or refuses: say so, never a traceback
        raise SecretUnavailable(
            ref,
            f"the Prefect Secret block {block_name!r} could not be read ({type(exc).__name__})",
            "Check that the Prefect server of PREFECT_API_URL is running and holds the block.",
        ) from None
    return str(block.get())


def delete_secret(ref: SecretRef) -> None:
    """Remove a Secret block (e.g. one stored for a service that then failed verification)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        try:
            block = client.read_block_document_by_name(name=ref.name, block_type_slug="secret")
        except Exception:  # already gone
            return
        client.delete_block_document(block.id)
