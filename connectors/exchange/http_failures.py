"""What a failed HTTP request tells about the server: whether it could have got the request.

requests wraps urllib3's exceptions, which wrap the socket's, so the telling one may be a few
levels down; both backends read the whole chain.
"""

from __future__ import annotations

from collections.abc import Iterator

import requests
from urllib3.exceptions import LocationParseError, NameResolutionError, NewConnectionError

_NOT_CONNECTED = (requests.exceptions.ConnectTimeout, NewConnectionError, NameResolutionError)
_BROKEN = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    ConnectionResetError,
    TimeoutError,
)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it was raised from or wraps (requests nests urllib3's)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        cur = todo.pop()
        if not isinstance(cur, BaseException) or id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        todo.extend([cur.__cause__, cur.__context__, getattr(cur, "reason", None), *cur.args])


_BAD_URL = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    LocationParseError,
)


def bad_url(exc: BaseException) -> bool:
    """The request was never made: its URL (host, port) cannot be parsed."""
    return any(isinstance(e, _BAD_URL) for e in causes(exc))


def tls_failed(exc: BaseException) -> bool:
    """The TLS handshake failed (most often: the server's certificate is not trusted)."""
    return any(isinstance(e, requests.exceptions.SSLError) for e in causes(exc))


def never_sent(exc: BaseException) -> bool:
    """No connection was made (DNS, refused, connect timeout): the server got nothing."""
    return any(isinstance(e, _NOT_CONNECTED) for e in causes(exc))


def connection_broke(exc: BaseException) -> bool:
    """The connection failed at some point (reset, dropped, timed out): after sending, the
    server may have carried the request out without the answer arriving."""
    return any(isinstance(e, _BROKEN) for e in causes(exc))
