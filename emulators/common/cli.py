"""The command-line skeleton of an emulator: common options, ready message, exit codes."""

from __future__ import annotations

import argparse
import errno
import json
import sys
from collections.abc import Callable
from typing import Any

from .runner import SetupRefused
from .state import StateFileError

MAX_PORT = 65535


def tcp_port(text: str) -> int:
    """An argparse type: a TCP port number, 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a TCP port: give 1 to {MAX_PORT}, or 0 for any free port"
        )
    return port


def parser(prog: str, description: str, port: int, state_help: str) -> argparse.ArgumentParser:
    """An argument parser with the options every emulator takes (add protocol ones to it)."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=tcp_port, default=port, help="0 picks a free port")
    p.add_argument("--state", default=None, help=state_help)
    p.add_argument("--tls-dir", default=None, help="where to write ca.pem (default: temp dir)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback address")
    # For a starting process (runner.in_subprocess): one JSON line instead of the text below.
    p.add_argument("--ready-json", action="store_true", help=argparse.SUPPRESS)
    return p


def announce(info: dict[str, Any], lines: list[str], as_json: bool) -> None:
    """Tell the starter where the server listens: `info` as one JSON line, or `lines`."""
    for line in [json.dumps(info)] if as_json else lines:
        print(line, flush=True)


def run(
    args: argparse.Namespace,
    serve: Callable[..., None],
    announce: Callable[[Any, bool], None],
    **options: Any,
) -> int:
    """Serve until interrupted; a refused or failed bind becomes a message and exit code.

    `serve` gets the common options from `args` plus the protocol's own `options`, and calls
    back with its handle once listening; `announce(handle, as_json)` reports it.
    """
    try:
        serve(
            host=args.host,
            port=args.port,
            state_file=args.state,
            allow_remote=args.allow_remote,
            tls_dir=args.tls_dir,
            on_ready=lambda handle: announce(handle, args.ready_json),
            **options,
        )
    except (SetupRefused, StateFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the address cannot be bound: nothing was served
        print(
            f"error: cannot listen on {args.host}:{args.port}: {_bind_problem(exc)}",
            file=sys.stderr,
        )
        return 2
    return 0


def _bind_problem(exc: OSError) -> str:
    """What went wrong binding, and what to do about it."""
    if exc.errno == errno.EADDRINUSE:
        return (
            "the port is already in use. Stop whatever listens there (perhaps an emulator "
            "started before), or give another --port (0 picks a free one)."
        )
    if exc.errno == errno.EACCES:
        return "permission denied. Use a port above 1023, or 0 for a free one."
    if exc.errno == errno.EADDRNOTAVAIL:
        return "this machine has no such address. Use 127.0.0.1."
    return f"{exc.strerror or exc}. Check --host and --port."
