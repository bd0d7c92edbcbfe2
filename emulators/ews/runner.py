"""Starting the EWS emulator: in a thread, in a subprocess, or in the foreground for the CLI."""

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
from .schema import schema_from
from .server import EwsHttpServer

__all__ = ["EwsEmulator", "NotLoopbackError", "build_server", "run_ews_emulator", "serve"]

NAME = "EWS emulator"


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
        return base_url(self.tls, self.host, self.port)

    @property
    def url(self) -> str:
        """The EWS endpoint, as Exchange's https://host/EWS/Exchange.asmx."""
        return f"{self.base_url}/EWS/Exchange.asmx"

    def token_url(self, tenant: str) -> str:
        """The OAuth2 client-credentials token endpoint of a tenant."""
        return f"{self.base_url}/{tenant}/oauth2/v2.0/token"


def build_server(
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: str | Path | None = None,
    latency_ms: float = 0.0,
    tls: bool = False,
    tls_dir: str | Path | None = None,
    allow_remote: bool = False,
    schema_dir: str | Path | None = None,
) -> tuple[EwsHttpServer, str | None]:
    """Create (not start) the server; returns it with the CA file when TLS is on.

    `schema_dir` holds Microsoft's messages.xsd and types.xsd (default: $EWS_EMULATOR_SCHEMA;
    see schema.py); without it, requests and responses are not checked against them."""
    check_bind(host, allow_remote, NAME)
    schema = schema_from(schema_dir)  # before binding: a bad folder leaves no port taken
    ssl_ctx, ca_file = tls_files(host, tls_dir, "ews-emulator-tls-") if tls else (None, None)
    behaviour = Behaviour(latency_ms=latency_ms)
    store = Store(state_file)
    return EwsHttpServer((host, port), store, behaviour, ssl_ctx, schema), ca_file


def _handle(host: str, port: int, tls: bool, ca_file: str | None) -> EwsEmulator:
    control = ControlClient(base_url(tls, host, port), ca_file)
    return EwsEmulator(host, port, tls, ca_file, control)


def _server_handle(server: EwsHttpServer, tls: bool, ca_file: str | None) -> EwsEmulator:
    host, port = server.server_address[:2]
    return _handle(str(host), int(port), tls, ca_file)


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    state_file: str | None = None,
    latency_ms: float = 0.0,
    tls: bool = False,
    allow_remote: bool = False,
    tls_dir: str | None = None,
    on_ready: Callable[[EwsEmulator], None] | None = None,
    schema_dir: str | None = None,
) -> None:
    """Run in the foreground until interrupted."""
    server, ca_file = build_server(
        host, port, state_file, latency_ms, tls, tls_dir, allow_remote, schema_dir
    )
    if on_ready:
        on_ready(_server_handle(server, tls, ca_file))
    serve_until_interrupted(server)


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
    schema_dir: str | Path | None = None,
) -> Iterator[EwsEmulator]:
    """Start an emulator on a free loopback port (port=0) and stop it on exit.

    Runs in a daemon thread of this process, or in its own Python process with subprocess=True
    (for load tests, so the server has its own interpreter lock). `schema_dir`: see
    build_server.
    """
    check_bind(host, allow_remote, NAME)
    if subprocess:
        cm = _in_subprocess(host, port, state_file, latency_ms, tls, allow_remote, schema_dir)
    else:
        cm = _in_thread(host, port, state_file, latency_ms, tls, allow_remote, schema_dir)
    with cm as handle:
        configure(handle.control, faults, throttling)
        yield handle


@contextlib.contextmanager
def _in_thread(
    host: str,
    port: int,
    state_file: str | Path | None,
    latency_ms: float,
    tls: bool,
    allow_remote: bool,
    schema_dir: str | Path | None,
) -> Iterator[EwsEmulator]:
    server, ca_file = build_server(
        host, port, state_file, latency_ms, tls, None, allow_remote, schema_dir
    )
    with in_thread(server, "ews-emulator"):
        yield _server_handle(server, tls, ca_file)


@contextlib.contextmanager
def _in_subprocess(
    host: str,
    port: int,
    state_file: str | Path | None,
    latency_ms: float,
    tls: bool,
    allow_remote: bool,
    schema_dir: str | Path | None,
) -> Iterator[EwsEmulator]:
    args = ["--host", host, "--port", str(port), "--latency-ms", str(latency_ms)]
    if schema_dir:
        args += ["--schema", str(schema_dir)]
    if state_file:
        args += ["--state", str(state_file)]
    if tls:
        args.append("--tls")
    if allow_remote:
        args.append("--allow-remote")
    with in_subprocess("emulators.ews", args, NAME) as info:
        yield _handle(info["host"], info["port"], tls, info.get("ca_file"))
