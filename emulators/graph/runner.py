"""Starting the Graph stand-in: in a thread, in a subprocess, or in the foreground (CLI).

It always serves HTTPS (Graph and the identity platform are HTTPS-only, and msal refuses an
`http://` authority) with a CA generated at start; clients pass its `ca_file` as their CA
bundle.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess as sp
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulators.ews.tls import make_tls

from .behaviour import Behaviour
from .control import ControlClient
from .model import Store
from .server import GraphHttpServer


class NotLoopbackError(ValueError):
    """The bind address is not a loopback address and remote access was not allowed."""


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
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

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


def check_bind(host: str, allow_remote: bool) -> None:
    """Refuse non-loopback bind addresses unless explicitly allowed."""
    if allow_remote or host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NotLoopbackError(
            f"Refusing to bind the Graph emulator to {host!r}: it is not a loopback address. "
            "Use 127.0.0.1, or pass --allow-remote if exposing it is really intended."
        )


def build_server(
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | Path | None = None,
    tls_dir: str | Path | None = None,
    allow_remote: bool = False,
) -> tuple[GraphHttpServer, str]:
    """Create (not start) the server; returns it with the CA certificate file."""
    check_bind(host, allow_remote)
    directory = Path(tls_dir or tempfile.mkdtemp(prefix="graph-emulator-tls-"))
    ssl_ctx, ca_path = make_tls(directory, host)
    server = GraphHttpServer((host, port), Store(state_file), Behaviour(), ssl_ctx)
    return server, str(ca_path)


def _handle(server: GraphHttpServer, ca_file: str) -> GraphEmulator:
    host, port = server.server_address[:2]
    return GraphEmulator(str(host), int(port), ca_file, ControlClient(server.base_url, ca_file))


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
        on_ready(_handle(server, ca_file))
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


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
    cm = _in_subprocess if subprocess else _in_thread
    with cm(host, port, state_file, allow_remote) as handle:
        if faults:
            handle.control.faults(**faults)
        if throttling:
            handle.control.throttling(**throttling)
        yield handle


@contextlib.contextmanager
def _in_thread(
    host: str, port: int, state_file: Any, allow_remote: bool
) -> Iterator[GraphEmulator]:
    server, ca_file = build_server(host, port, state_file, None, allow_remote)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        daemon=True,
        name="graph-emulator",
    )
    thread.start()
    try:
        yield _handle(server, ca_file)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def _in_subprocess(
    host: str, port: int, state_file: Any, allow_remote: bool
) -> Iterator[GraphEmulator]:
    cmd = [sys.executable, "-m", "emulators.graph", "--host", host, "--port", str(port)]
    cmd.append("--ready-json")
    if state_file:
        cmd += ["--state", str(state_file)]
    if allow_remote:
        cmd.append("--allow-remote")
    root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    proc = sp.Popen(cmd, stdout=sp.PIPE, stderr=sp.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"Graph emulator subprocess failed to start: {err.strip()}")
        info = json.loads(line)
        yield GraphEmulator(
            info["host"],
            info["port"],
            info["ca_file"],
            ControlClient(info["base_url"], info["ca_file"]),
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except sp.TimeoutExpired:
            proc.kill()
            proc.wait()
