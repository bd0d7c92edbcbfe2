"""Command line: `python -m emulators.graph` (also behind `trainer-sync emulator graph`)."""

from __future__ import annotations

from emulators.common import cli

from .runner import GraphEmulator, serve


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
    lines = [
        f"Graph emulator listening on {handle.url}",
        f"Token authority (authority_host): {handle.authority}",
        f"CA certificate: {handle.ca_file}",
        f"Control API: {handle.base_url}/_control/  (see emulators/graph/README.md)",
    ]
    cli.announce(info, lines, as_json)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve until interrupted."""
    p = cli.parser(
        "graph-emulator",
        "Loopback Microsoft Graph (calendar) stand-in",
        port=8766,
        state_help="JSON file keeping users, apps and events",
    )
    args = p.parse_args(argv)
    return cli.run(args, serve, announce)
