"""Starting an emulator's server: loopback check, foreground, thread or subprocess."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import ssl
import subprocess as sp
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from socketserver import BaseServer
from typing import Any

from .control import BaseControlClient

# The folder holding the `emulators` package, put on a subprocess's PYTHONPATH so that
# `python -m emulators.<name>` works from any working directory.
_ROOT = str(Path(__file__).resolve().parents[2])


class SetupRefused(ValueError):
    """An option an emulator cannot start with; its message says which and why."""


class NotLoopbackError(SetupRefused):
    """The bind address is not a loopback address and remote access was not allowed."""


def check_bind(host: str, allow_remote: bool, what: str) -> None:
    """Refuse non-loopback bind addresses for emulator `what` unless explicitly allowed."""
    if allow_remote or host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NotLoopbackError(
            f"Refusing to bind the {what} to {host!r}: it is not a loopback address. "
            "Use 127.0.0.1, or pass --allow-remote if exposing it is really intended."
        )


def tls_files(host: str, tls_dir: str | Path | None, prefix: str) -> tuple[ssl.SSLContext, str]:
    """A server TLS context for host and its CA file, written to tls_dir (or a new temp dir)."""
    from .tls import make_tls  # lazy: `cryptography` is needed only when serving HTTPS

    directory = Path(tls_dir or tempfile.mkdtemp(prefix=prefix))
    ctx, ca_path = make_tls(directory, host)
    return ctx, str(ca_path)


def serve_until_interrupted(server: BaseServer) -> None:
    """Serve in the foreground until Ctrl-C, then close the socket."""
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@contextlib.contextmanager
def in_thread(server: BaseServer, name: str) -> Iterator[None]:
    """Serve from a daemon thread of this process while the block runs."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True, name=name
    )
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def in_subprocess(module: str, args: list[str], what: str) -> Iterator[dict[str, Any]]:
    """Run `python -m module --ready-json *args` while the block runs; yields its ready line.

    The CLI prints one JSON line (host, port, base_url, ca_file, ...) once it listens.
    """
    cmd = [sys.executable, "-m", module, "--ready-json", *args]
    pythonpath = os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    # stderr goes to a file, not a pipe: an undrained pipe would block a long-running server.
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = sp.Popen(cmd, stdout=sp.PIPE, stderr=errors, text=True, env=env)
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                proc.wait(timeout=10)
                errors.seek(0)
                raise RuntimeError(f"{what} subprocess failed to start: {errors.read().strip()}")
            yield json.loads(line)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except sp.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()


def configure(
    control: BaseControlClient,
    faults: dict[str, Any] | None,
    throttling: dict[str, Any] | None,
) -> None:
    """Apply the faults and throttling a caller asked for at start."""
    if faults:
        control.faults(**faults)
    if throttling:
        control.throttling(**throttling)
