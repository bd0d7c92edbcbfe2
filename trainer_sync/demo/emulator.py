"""The demo's EWS emulator: on the port asked for when it is free, else on a free one.

The demo writes to whatever Exchange it talks to, so it never syncs against an emulator it
did not start unless that emulator already holds every one of the demo's accounts (one
that `make ui` or an earlier demo left running on the demo's mailboxes).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

from emulators.ews.control import ControlClient
from emulators.ews.runner import EwsEmulator
from sync_rules.errors import ConfigurationError
from trainer_sync.demo.cast import ACCOUNTS

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
PORT_ENV = "DEMO_EWS_PORT"
#: How long to wait for whatever holds the port to answer as an emulator would.
PROBE_SECONDS = 1.0


class Occupant(Enum):
    """What holds a loopback port, in the words the demo prints."""

    NOTHING = "nothing"
    DEMO_EMULATOR = "an EWS emulator holding the demo's accounts"
    OTHER_EMULATOR = "an EWS emulator without the demo's accounts"
    SOMETHING_ELSE = "something that is not an EWS emulator"


def requested_port() -> int:
    """`DEMO_EWS_PORT` when set, else 8765."""
    raw = os.environ.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigurationError(
            f"{PORT_ENV}={raw!r} is not a port number.",
            f"set {PORT_ENV} to a port from 1 to 65535, or unset it to use {DEFAULT_PORT}",
        )
    return int(raw)


def port_is_free(port: int) -> bool:
    """True when nothing listens on HOST:port, so an emulator can be started there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Bind as the emulator's HTTP server does: a port left in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _emulator_accounts(base_url: str) -> set[str] | None:
    """The accounts of the EWS emulator answering at base_url; None if none answers there."""
    control = ControlClient(base_url, timeout=PROBE_SECONDS)
    try:
        accounts = control.accounts() if control.health() else None
    except (OSError, http.client.HTTPException, ValueError, AttributeError, RuntimeError):
        return None  # no answer in time, not HTTP, or not an emulator's control API
    return {str(a) for a in accounts} if isinstance(accounts, list) else None


def occupant_of(port: int) -> Occupant:
    """What listens on HOST:port, as far as the emulator's control API tells."""
    if port_is_free(port):
        return Occupant.NOTHING
    accounts = _emulator_accounts(f"http://{HOST}:{port}")
    if accounts is None:
        return Occupant.SOMETHING_ELSE
    if accounts.issuperset(ACCOUNTS):
        return Occupant.DEMO_EMULATOR
    return Occupant.OTHER_EMULATOR


@contextlib.contextmanager
def demo_emulator(port: int, state_file: Path) -> Iterator[tuple[str, ControlClient]]:
    """(EWS endpoint, control client) of the emulator the demo may sync against, for the
    block: one holding the demo's accounts on `port`, or its own (started here, stopped
    after), on `port` when it is free and else on a free one."""
    occupant = occupant_of(port)
    if occupant is Occupant.DEMO_EMULATOR:
        base = f"http://{HOST}:{port}"
        print(f"Using the EWS emulator already running at {base} (it holds the demo's accounts).")
        yield f"{base}/EWS/Exchange.asmx", ControlClient(base)
        return
    if occupant is not Occupant.NOTHING:
        print(
            f"Port {port} on {HOST} is taken by {occupant.value}: the demo does not sync "
            f"against it, and starts its own emulator on a free port instead "
            f"(set {PORT_ENV} to choose the port)."
        )
        port = 0  # the emulator binds a free port itself: nothing can take it in between
    with contextlib.ExitStack() as running:
        ews = _start(running, port, state_file)
        print(f"Started the EWS emulator at {ews.url} (mailboxes kept in {state_file}).")
        yield ews.url, ews.control


def _start(running: contextlib.ExitStack, port: int, state_file: Path) -> EwsEmulator:
    """The demo's own emulator, stopped when `running` closes."""
    from emulators.ews import run_ews_emulator

    try:
        return running.enter_context(
            run_ews_emulator(host=HOST, port=port, state_file=state_file, subprocess=True)
        )
    except RuntimeError as exc:  # the emulator's process ended before it listened
        # Its error output ends with what went wrong; the traceback before it is noise here.
        cause = str(exc).strip().splitlines()[-1]
        raise ConfigurationError(
            f"The demo's EWS emulator did not start: {cause}",
            "run `make demo` again if another program took the port meanwhile; "
            f"`make clean` removes a damaged {state_file} (and the rest of the demo's state)",
        ) from None
