"""The HTTP adapter of a service's sessions: its own TLS verification and timeouts on every send.

Fixing them in the adapter, rather than on the session or per call, keeps REQUESTS_CA_BUNDLE,
proxy settings and other services' settings from overriding the service's choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

Timeout = float | tuple[float, float] | tuple[float, None] | None


class PinnedAdapter(HTTPAdapter):
    """Sends with a fixed TLS verification (True, False or a CA bundle path) and, unless the
    caller gives one, a fixed (connect, read) timeout."""

    def __init__(self, verify: bool | str, timeout: Timeout = None, **pool: Any) -> None:
        super().__init__(**pool)
        self._verify = verify
        self._timeout = timeout

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Timeout = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        return super().send(
            request,
            stream=stream,
            timeout=self._timeout if timeout is None else timeout,
            verify=self._verify,
            cert=cert,
            proxies=proxies,
        )
