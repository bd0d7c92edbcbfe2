"""The error every layer raises for a failure a user must act on.

It lives at the bottom of the import graph so connectors, tasks, flows and the CLI
can all raise and catch it; the CLI prints `message` and `hint`, never a traceback.
"""

from __future__ import annotations


class TrainerSyncError(Exception):
    """A failure with an admin-facing explanation: what was wrong and what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} — {self.hint}"


class ConfigurationError(TrainerSyncError):
    """Bad configuration or input: nothing was written."""
