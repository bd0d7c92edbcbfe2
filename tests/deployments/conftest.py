"""The production paths' tests: one real `prefect server start` per test module.

Each module here gets its own server (home, database, loopback port), and the session's
`prefect_api` fixture (a test harness) is overridden by it, so the shared scenarios
(`ews_world`: a store and the EWS emulator) run against that server: the runs of served
deployments, of workers and of the CLI in other processes all report to it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect._internal.concurrency.services import QueueService
from prefect.settings import PREFECT_API_URL, temporary_settings

# The shared scenario (EWS side); with `prefect_api` overridden below, it runs on this
# module's server instead of the session's harness.
from tests.flows.conftest import ews_side, ews_world  # noqa: F401

STARTUP_TIMEOUT = 90
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(api: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {STARTUP_TIMEOUT}s:\n{log.read_text()}")


def drain_prefect_workers() -> None:
    """Send queued logs and events to the server they belong to before switching servers.

    Prefect's log and event workers are process-wide and bound to the API of their start;
    draining stops them, and the next use starts them on the current API.
    """
    QueueService.drain_all(timeout=10, at_exit=False)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Stop a process started with `start_new_session=True`, and everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API URL of a real Prefect server that this process's client talks to."""
    home = tmp_path_factory.mktemp("prefect-home")
    log = home / "server.log"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_UI_ENABLED": "false",  # the API is all a test needs
    }
    env.pop("PREFECT_API_URL", None)
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole below
        )
    api = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(api, server, log)
        drain_prefect_workers()
        with temporary_settings(updates={PREFECT_API_URL: api}):
            try:
                yield api
            finally:
                drain_prefect_workers()
    finally:
        stop_group(server)
