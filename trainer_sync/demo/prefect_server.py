"""Which Prefect API the demo's runs go to, so its closing line can say where they are.

`$PREFECT_API_URL` when it is set; else the server `make ui` runs on this machine
(http://127.0.0.1:$UI_PORT, 4200 by default) when it answers; else none: the runs use
Prefect's temporary API, which is gone when the demo ends.
"""

from __future__ import annotations

import os
import urllib.request

UI_HOST = "127.0.0.1"
DEFAULT_UI_PORT = "4200"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=2):
            return True
    except (OSError, ValueError):
        return False


def choose_prefect_server() -> str | None:
    """The API URL the demo's runs will go to (set in the environment for them), or None."""
    configured = os.environ.get("PREFECT_API_URL", "").strip()
    if configured:
        return configured
    port = os.environ.get("UI_PORT", "").strip() or DEFAULT_UI_PORT
    local = f"http://{UI_HOST}:{port}/api"
    if port.isdigit() and _answers(local):
        os.environ["PREFECT_API_URL"] = local
        return local
    return None


def closing_line(api_url: str | None) -> str:
    """Where the demo's runs can be watched; true whichever API they went to."""
    if api_url is None:
        return (
            "Run `make demo` again: nothing changes. These runs used a temporary Prefect API "
            "that is gone now; to watch the runs in the Prefect UI, start `make ui` (it runs "
            "the demo there when it has not run yet) or run `make demo` while it is up."
        )
    ui = api_url.rstrip("/").removesuffix("/api")
    return f"Run `make demo` again: nothing changes. The runs are in the Prefect UI: {ui}/runs"
