"""Command line: `python -m emulators.ews` (also behind `trainer-sync emulator ews`)."""

from __future__ import annotations

from emulators.common import cli

from .runner import EwsEmulator, serve


def announce(handle: EwsEmulator, as_json: bool) -> None:
    """Tell the starter where the server listens."""
    info = {
        "host": handle.host,
        "port": handle.port,
        "url": handle.url,
        "base_url": handle.base_url,
        "ca_file": handle.ca_file,
    }
    lines = [
        f"EWS emulator listening on {handle.url}",
        f"Control API: {handle.base_url}/_control/  (see emulators/ews/README.md)",
    ]
    if handle.ca_file:
        lines.append(f"CA certificate: {handle.ca_file}")
    cli.announce(info, lines, as_json)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve until interrupted."""
    p = cli.parser(
        "ews-emulator",
        "Loopback EWS (Exchange) emulator",
        port=8765,
        state_help="JSON file keeping mailboxes across restarts",
    )
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA")
    p.add_argument(
        "--schema",
        default=None,
        metavar="DIR",
        help="folder with Microsoft's messages.xsd and types.xsd: requests that do not "
        "validate get ErrorSchemaValidation, responses that do not are reported "
        "(default: $EWS_EMULATOR_SCHEMA; none: nothing is checked)",
    )
    args = p.parse_args(argv)
    return cli.run(
        args, serve, announce, latency_ms=args.latency_ms, tls=args.tls, schema_dir=args.schema
    )
