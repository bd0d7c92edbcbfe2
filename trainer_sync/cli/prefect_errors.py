"""Prefect failing to start, said as an administrator can act on it.

Prefect reports these as bare exceptions from deep inside its client: a `RuntimeError` when
its temporary API server does not answer in time, and a pydantic `ValidationError` when a
`PREFECT_*` setting in the environment has a value of the wrong kind. Neither is a fault of
the command's input, and neither should end in a traceback.
"""

from __future__ import annotations

from pydantic import ValidationError

from sync_rules.errors import ConfigurationError

# The start of Prefect's message (prefect.server.api.server.SubprocessASGIServer.start).
_EPHEMERAL_TIMEOUT = "Timed out while attempting to connect to ephemeral Prefect API server"
_STARTUP_SETTING = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


def prefect_start_error(exc: Exception) -> ConfigurationError | None:
    """The admin-facing error for `exc` if it is Prefect failing to start; else None."""
    if isinstance(exc, RuntimeError) and str(exc).startswith(_EPHEMERAL_TIMEOUT):
        return ConfigurationError(
            "Prefect's temporary API server did not start in time, so nothing was run "
            f"(the wait is {_STARTUP_SETTING}, 20 s unless set).",
            "Run a Prefect server and point the command at it: `make ui`, or `prefect server "
            "start` and PREFECT_API_URL=http://127.0.0.1:4200/api. On a slow or busy machine, "
            f"a longer wait also helps: {_STARTUP_SETTING}=60.",
        )
    if isinstance(exc, ValidationError) and exc.title.endswith("Settings"):
        first = exc.errors()[0]
        setting = ".".join(str(part) for part in first["loc"])
        return ConfigurationError(
            f"Prefect cannot start: its setting {setting} ({exc.title}) is "
            f"{first.get('input')!r}: {first['msg']}.",
            "Fix or unset the PREFECT_* environment variable (or profile entry) that sets "
            "it; `prefect config view` shows where each setting comes from.",
        )
    return None
