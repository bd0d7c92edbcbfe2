"""Which EWS emulator `make ui` serves the demo's store with.

`make ui` syncs the demo's store against an emulator on the demo's port (`DEMO_EWS_PORT`,
8765 by default). As in the demo, it never syncs against an emulator it did not start unless
that emulator holds every one of the demo's accounts: anything else on the port is refused,
saying what holds it and what to do. The demo's service is pointed at the port (the demo may
have used another one while this one was taken).

Prints `start PORT` (nothing listens: start one there) or `reuse PORT` (the demo's emulator
runs there) and exits 0; exits 2 with a message otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sync_rules.errors import ConfigurationError, TrainerSyncError
from trainer_sync.demo.cast import SERVICE
from trainer_sync.demo.emulator import HOST, PORT_ENV, Occupant, occupant_of, requested_port


def choose(port: int) -> str:
    """`start` or `reuse` for the emulator on HOST:port; ConfigurationError if neither."""
    occupant = occupant_of(port)
    if occupant is Occupant.NOTHING:
        return "start"
    if occupant is Occupant.DEMO_EMULATOR:
        return "reuse"
    raise ConfigurationError(
        f"Port {port} on {HOST} is taken by {occupant.value}: `make ui` does not sync the "
        "demo's trainers against it.",
        f"Stop what listens there, or give both the demo and the UI another port: "
        f"{PORT_ENV}=8800 make demo, then {PORT_ENV}=8800 make ui.",
    )


def point_service_at(store: Path, port: int) -> None:
    """Point the demo's service at the emulator on `port`, if the demo's store exists."""
    if not store.exists():
        return
    from connectors.platform import configuration, db

    endpoint = f"http://{HOST}:{port}/EWS/Exchange.asmx"
    with db.transaction(f"sqlite:///{store}") as session:
        names = {s.name for s in configuration.list_services(session)}
        if SERVICE in names:
            configuration.get_service(session, SERVICE).endpoint = endpoint


def main(argv: list[str]) -> int:
    """`python -m trainer_sync.demo.ui_emulator STORE`: see the module's docstring."""
    from trainer_sync.cli.output import print_error

    try:
        port = requested_port()
        decision = choose(port)
        point_service_at(Path(argv[0]), port)
    except TrainerSyncError as exc:
        print_error(exc)
        return 2
    print(f"{decision} {port}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
