"""Starting the Graph stand-in: in a thread, in a subprocess, or in the foreground (CLI).

It always serves HTTPS (Graph and the identity platform are HTTPS-only, and msal refuses an
`http://` authority) with a CA generated at start; clients pass its `ca_file` as their CA
bundle.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulators.common.http import base_url
from emulators.common.runner import (
    NotLoopbackError,
    check_bind,
    configure,
    in_subprocess,
    in_thread,
    serve_until_interrupted,
    tls_files,
)

from .behaviour import Behaviour
from .control import ControlClient
from .model import Store
from .server import GraphHttpServer

__all__ = ["GraphEmulator", "NotLoopbackError", "build_server", "run_graph_emulator", "serve"]

NAME = "Graph emulator"


@dataclass
class GraphEmulator:
    """A running stand-in: where it listens and how to drive it."""

    host: str
    port: int
    ca_file: str
    control: ControlClient

    @property
    def base_url(self) -> str:
        """Scheme, host and port (no path); also the identity platform's authority host."""
        return base_url(True, self.host, self.port)

    @property
    def url(self) -> str:
        """The Graph endpoint, as https://graph.microsoft.com/v1.0."""
        return f"{self.base_url}/v1.0"

    @property
    def authority(self) -> str:
        """The authority host to give msal (as https://login.microsoftonline.com)."""
        return self.base_url

    def token_url(self, tenant: str) -> str:
        """The v2.0 token endpoint of a tenant."""
        return f"{self.base_url}/{tenant}/oauth2/v2.0/token"


def build_server(
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | Path | None = None,
    tls_dir: str | Path | None = None,
    allow_remote: bool = False,
) -> tuple[GraphHttpServer, str]:
    """Create (not start) the server; returns it with the CA certificate file."""
    check_bind(host, allow_remote, NAME)
    ssl_ctx, ca_file = tls_files(host, tls_dir, "graph-emulator-tls-")
    server = GraphHttpServer((host, port), Store(state_file), Behaviour(), ssl_ctx)
    return server, ca_file


def _handle(host: str, port: int, ca_file: str) -> GraphEmulator:
    return GraphEmulator(host, port, ca_file, ControlClient(base_url(True, host, port), ca_file))


def _server_handle(server: GraphHttpServer, ca_file: str) -> GraphEmulator:
    host, port = server.server_address[:2]
    return _handle(str(host), int(port), ca_file)


def serve(
    host: str = "127.0.0.1",
    port: int = 8766,
    state_file: str | None = None,
    allow_remote: bool = False,
    tls_dir: str | None = None,
    on_ready: Callable[[GraphEmulator], None] | None = None,
) -> None:
    """Run in the foreground until interrupted."""
    server, ca_file = build_server(host, port, state_file, tls_dir, allow_remote)
    if on_ready:
        on_ready(_server_handle(server, ca_file))
    serve_until_interrupted(server)


@contextlib.contextmanager
def run_graph_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | Path | None = None,
    subprocess: bool = False,
    allow_remote: bool = False,
    faults: dict[str, Any] | None = None,
    throttling: dict[str, Any] | None = None,
) -> Iterator[GraphEmulator]:
    """Start the stand-in on a free loopback port (port=0) and stop it on exit.

    Runs in a daemon thread of this process, or in its own Python process with subprocess=True
    (for load tests, so the server has its own interpreter lock).
    """
    # Checked here too so that a subprocess start fails the same way as a thread start.
    check_bind(host, allow_remote, NAME)
    cm = _in_subprocess if subprocess else _in_thread
    with cm(host, port, state_file, allow_remote) as handle:
        configure(handle.control, faults, throttling)
        yield handle


@contextlib.contextmanager
def _in_thread(
    host: str, port: int, state_file: str | Path | None, allow_remote: bool
) -> Iterator[GraphEmulator]:
    server, ca_file = build_server(host, port, state_file, None, allow_remote)
    with in_thread(server, "graph-emulator"):
        yield _server_handle(server, ca_file)


@contextlib.contextmanager
def _in_subprocess(
    host: str, port: int, state_file: str | Path | None, allow_remote: bool
) -> Iterator[GraphEmulator]:
    args = ["--host", host, "--port", str(port)]
    if state_file:
        args += ["--state", str(state_file)]
    if allow_remote:
        args.append("--allow-remote")
    with in_subprocess("emulators.graph", args, NAME) as info:
        yield _handle(info["host"], info["port"], info["ca_file"])
