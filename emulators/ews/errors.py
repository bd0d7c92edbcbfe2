"""EWS error raised inside the emulator and turned into a response message or SOAP fault."""

from __future__ import annotations


class EwsError(Exception):
    """An EWS ResponseCode with its message text."""

    def __init__(self, code: str, message: str = "", values: dict[str, str] | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message or code
        self.values = values or {}


class HttpFailure(Exception):
    """A fault that is answered at HTTP level (status code, or a dropped connection)."""

    def __init__(self, status: int | None, body: bytes = b""):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
