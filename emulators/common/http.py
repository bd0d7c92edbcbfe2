"""The HTTP(S) plumbing under every emulator: threaded server, TLS per connection, handler."""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def base_url(tls: bool, host: str, port: int) -> str:
    """Scheme, host and port (no path); IPv6 hosts in brackets."""
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{host}:{port}"


class EmulatorHttpServer(ThreadingHTTPServer):
    """Threaded HTTP server, HTTPS when given a context; subclasses hold the protocol state."""

    daemon_threads = True
    allow_reuse_address = True
    # Load tests open many connections at once; the default backlog of 5 would refuse some.
    request_queue_size = 128
    name = "emulator"  # in error messages

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        super().__init__(address, handler)

    @property
    def base_url(self) -> str:
        """Scheme, host and port it listens on."""
        host, port = self.server_address[:2]
        return base_url(self.ssl_context is not None, str(host), int(port))

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-request are normal; anything else is reported briefly."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError)):
            return
        print(f"{self.name}: error serving {client_address}: {exc!r}", file=sys.stderr)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Do the TLS handshake in the request thread, not the accept loop."""
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


class QuietHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 handler that logs nothing (emulators run inside test runs)."""

    protocol_version = "HTTP/1.1"
    sys_version = ""

    def setup(self) -> None:
        """Set TCP_NODELAY on the connection."""
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK stall
        # every keep-alive response by ~40 ms.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the emulator is used inside test runs."""

    def drop_connection(self) -> None:
        """Close the connection without an answer, as a network or server that drops it."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""
