"""When a service's secret is about to stop working, and what to tell its admin.

Exchange does not tell an application when its own client secret expires (the token carries
no such date, and reading the app registration needs rights the sync does not have), so the
date is the one the admin set from the app registration (`trainer-sync service
secret-expires`).
"""

from __future__ import annotations

from datetime import date, timedelta

#: How long before its expiry a secret is announced (then once a day, until renewed).
WARN_BEFORE = timedelta(days=14)


def expiry_notice(service: str, backend: str, expires_on: date | None, today: date) -> str | None:
    """The admin-facing message when the secret expires within WARN_BEFORE (or has expired);
    None while it has longer, or when no date is known."""
    if expires_on is None or expires_on - today > WARN_BEFORE:
        return None
    what = "client secret" if backend == "graph" else "secret"
    days = (expires_on - today).days
    when = (
        f"expired on {expires_on:%Y-%m-%d}"
        if days < 0
        else "expires today"
        if days == 0
        else f"expires on {expires_on:%Y-%m-%d}, in {days} day{'s' if days != 1 else ''}"
    )
    return (
        f"The {what} of service {service} {when}: its trainers stop syncing when it does. "
        f"Create a new one, then store it with `trainer-sync service set {service} "
        f"--secret-stdin` and its end date with `trainer-sync service secret-expires {service} "
        "YYYY-MM-DD`."
    )
