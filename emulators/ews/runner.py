"""Starting the emulator: in a thread, in a subprocess, or in the foreground for the CLI."""

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

from .behaviour import Behaviour
from .control import ControlClient
from .model import Store
from .server import EwsHttpServer


class NotLoopbackError(ValueError):
    """The bind address is not a loopback address and remote access was not allowed."""


@dataclass
class EwsEmulator:
    """A running emulator: where it listens and how to drive it."""

    host: str
    port: int
    tls: bool
    ca_file: str | None
    control: ControlClient

    @property
    def base_url(self) -> str:
        """Scheme, host and port (no path)."""
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The EWS endpoint, as Exchange's https://host/EWS/Exchange.asmx."""
        return f"{self.base_url}/EWS/Exchange.asmx"

    def token_url(self, tenant: str) -> str:
        """The OAuth2 client-credentials token endpoint of a tenant."""
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
            f"Refusing to bind the EWS emulator to {host!r}: it is not a loopback address. "
            "Use 127.0.0.1, or pass --allow-remote if exposing it is really intended."
        )


def build_server(
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | Path | None = None,
    latency_ms: float = 0.0,
    tls: bool = False,
    tls_dir: str | Path | None = None,
    allow_remote: bool = False,
) -> tuple[EwsHttpServer, str | None]:
    """Create (not start) the server; returns it with the CA file when TLS is on."""
    check_bind(host, allow_remote)
    behaviour = Behaviour(latency_ms=latency_ms)
    ssl_ctx, ca_file = None, None
    if tls:
        from .tls import make_tls

        directory = Path(tls_dir or tempfile.mkdtemp(prefix="ews-emulator-tls-"))
        ssl_ctx, ca_path = make_tls(directory, host)
        ca_file = str(ca_path)
    server = EwsHttpServer((host, port), Store(state_file), behaviour, ssl_ctx)
    return server, ca_file


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    state_file: str | None = None,
    latency_ms: float = 0.0,
    tls: bool = False,
    allow_remote: bool = False,
    tls_dir: str | None = None,
    on_ready: Callable[[EwsEmulator], None] | None = None,
) -> None:
    """Run in the foreground until interrupted."""
    server, ca_file = build_server(host, port, state_file, latency_ms, tls, tls_dir, allow_remote)
    handle = _handle(server, tls, ca_file)
    if on_ready:
        on_ready(handle)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _handle(server: EwsHttpServer, tls: bool, ca_file: str | None) -> EwsEmulator:
    host, port = server.server_address[:2]
    base = EwsEmulator(str(host), int(port), tls, ca_file, ControlClient("http://x"))
    return EwsEmulator(str(host), int(port), tls, ca_file, ControlClient(base.base_url, ca_file))


@contextlib.contextmanager
def run_ews_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | Path | None = None,
    latency_ms: float = 0.0,
    tls: bool = False,
    subprocess: bool = False,
    allow_remote: bool = False,
    faults: dict[str, Any] | None = None,
    throttling: dict[str, Any] | None = None,
) -> Iterator[EwsEmulator]:
    """Start an emulator on a free loopback port (port=0) and stop it on exit.

    Runs in a daemon thread of this process, or in its own Python process with subprocess=True
    (for load tests, so the server has its own interpreter lock).
    """
    check_bind(host, allow_remote)
    if subprocess:
        cm = _in_subprocess(host, port, state_file, latency_ms, tls, allow_remote)
    else:
        cm = _in_thread(host, port, state_file, latency_ms, tls, allow_remote)
    with cm as handle:
        if faults:
            handle.control.faults(**faults)
        if throttling:
            handle.control.throttling(**throttling)
        yield handle


@contextlib.contextmanager
def _in_thread(
    host: str, port: int, state_file: Any, latency_ms: float, tls: bool, allow_remote: bool
) -> Iterator[EwsEmulator]:
    server, ca_file = build_server(host, port, state_file, latency_ms, tls, None, allow_remote)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True, name="ews-emulator"
    )
    thread.start()
    try:
        yield _handle(server, tls, ca_file)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def _in_subprocess(
    host: str, port: int, state_file: Any, latency_ms: float, tls: bool, allow_remote: bool
) -> Iterator[EwsEmulator]:
    cmd = [sys.executable, "-m", "emulators.ews", "--host", host, "--port", str(port)]
    cmd += ["--latency-ms", str(latency_ms), "--ready-json"]
    if state_file:
        cmd += ["--state", str(state_file)]
    if tls:
        cmd.append("--tls")
    if allow_remote:
        cmd.append("--allow-remote")
    root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    # stderr goes to a file, not a pipe: an undrained pipe would block a long-running server.
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = sp.Popen(cmd, stdout=sp.PIPE, stderr=errors, text=True, env=env)
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                proc.wait(timeout=10)
                errors.seek(0)
                raise RuntimeError(
                    f"EWS emulator subprocess failed to start: {errors.read().strip()}"
                )
            info = json.loads(line)
            ca_file = info.get("ca_file")
            yield EwsEmulator(
                info["host"], info["port"], tls, ca_file, ControlClient(info["base_url"], ca_file)
            )
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except sp.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
