"""Command line: `python -m emulators.graph` (also behind `trainer-sync emulator graph`)."""

from __future__ import annotations

import argparse
import json
import sys

from .runner import GraphEmulator, NotLoopbackError, serve


def announce(handle: GraphEmulator, as_json: bool) -> None:
    """Tell the starter where the server listens."""
    info = {
        "host": handle.host,
        "port": handle.port,
        "url": handle.url,
        "base_url": handle.base_url,
        "authority": handle.authority,
        "ca_file": handle.ca_file,
    }
    if as_json:
        print(json.dumps(info), flush=True)
        return
    print(f"Graph emulator listening on {handle.url}", flush=True)
    print(f"Token authority (authority_host): {handle.authority}", flush=True)
    print(f"CA certificate: {handle.ca_file}", flush=True)
    print(f"Control API: {handle.base_url}/_control/  (see emulators/graph/README.md)", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve until interrupted."""
    p = argparse.ArgumentParser(
        prog="graph-emulator", description="Loopback Microsoft Graph (calendar) stand-in"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8766)
    p.add_argument("--state", default=None, help="JSON file keeping users, apps and events")
    p.add_argument("--tls-dir", default=None, help="where to write ca.pem (default: temp dir)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback address")
    p.add_argument("--ready-json", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        serve(
            host=args.host,
            port=args.port,
            state_file=args.state,
            allow_remote=args.allow_remote,
            tls_dir=args.tls_dir,
            on_ready=lambda h: announce(h, args.ready_json),
        )
    except NotLoopbackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
