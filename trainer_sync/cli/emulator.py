"""`trainer-sync emulator ...`: local stand-ins for Exchange (filled in by the emulator work)."""

from __future__ import annotations

import typer

MAX_PORT = 65535  # the highest TCP port


def _tcp_port(port: int) -> int:
    if not 0 <= port <= MAX_PORT:
        raise typer.BadParameter(
            f"{port} is not a TCP port: give 1 to {MAX_PORT}, or 0 for any free port."
        )
    return port


app = typer.Typer(help="Run a local, loopback-only stand-in for Exchange.", no_args_is_help=True)


@app.command("ews")
def ews(
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback unless --allow-remote)."),
    port: int = typer.Option(8765, callback=_tcp_port, help="TCP port (0 picks a free one)."),
    state: str | None = typer.Option(None, "--state", help="JSON file keeping mailboxes."),
    latency_ms: float = typer.Option(0.0, "--latency-ms", help="Fixed latency per EWS request."),
    tls: bool = typer.Option(False, "--tls", help="Serve HTTPS with a generated CA certificate."),
    allow_remote: bool = typer.Option(
        False, "--allow-remote", help="Allow binding a non-loopback address."
    ),
    schema: str | None = typer.Option(
        None,
        "--schema",
        metavar="DIR",
        help="Folder with Microsoft's messages.xsd and types.xsd: requests that do not "
        "validate get ErrorSchemaValidation (env: EWS_EMULATOR_SCHEMA).",
    ),
) -> None:
    """Run the EWS (Exchange Web Services) emulator in the foreground."""
    from emulators.ews.cli import main  # lazy: keeps `trainer-sync --help` fast

    argv = ["--host", host, "--port", str(port), "--latency-ms", str(latency_ms)]
    if state:
        argv += ["--state", state]
    if schema:
        argv += ["--schema", schema]
    if tls:
        argv.append("--tls")
    if allow_remote:
        argv.append("--allow-remote")
    code = main(argv)
    if code:
        raise typer.Exit(code)


@app.command("graph")
def graph(
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback unless --allow-remote)."),
    port: int = typer.Option(8766, callback=_tcp_port, help="TCP port (0 picks a free one)."),
    state: str | None = typer.Option(None, "--state", help="JSON file keeping users and events."),
    allow_remote: bool = typer.Option(
        False, "--allow-remote", help="Allow binding a non-loopback address."
    ),
) -> None:
    """Run the Microsoft Graph (calendar + token endpoint) stand-in in the foreground (HTTPS)."""
    from emulators.graph.cli import main  # lazy: keeps `trainer-sync --help` fast

    argv = ["--host", host, "--port", str(port)]
    if state:
        argv += ["--state", state]
    if allow_remote:
        argv.append("--allow-remote")
    code = main(argv)
    if code:
        raise typer.Exit(code)
