"""The paths operators take, on a real Prefect server: served runs, worker runs, and CLI syncs
that are killed.

Everything here runs as in production: the administrator configures the store with the CLI
(one service's secret typed into a Prefect Secret block, another service whose secret is
missing from the environment), `trainer-sync serve` and a process worker start each flow run
in a child process from the deployment's entrypoint, and `trainer-sync sync` runs in a
process of its own that a test kills. Nothing in this test process is shared with the runs
but the store, the EWS emulator and the Prefect server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from sqlalchemy import func, select
from typer.testing import CliRunner

from connectors.platform import db
from connectors.platform.models import SyncLock, SyncRun, Unavailability
from deployments.serve import PROVIDER_NAME, SERVICE_NAME, TRAINER_NAME, cycle_name
from tests.deployments.conftest import BIN, stop_group
from tests.flows.conftest import tomorrow
from tests.flows.exchange_sides import DOMAIN, MASTER, MASTER_PW, EwsSide
from tests.run_logs import run_logs
from trainer_sync.cli import app

RUN_TIMEOUT = 120
MISSING_SECRET_ENV = "ACME_SPARE_EXCHANGE_PW"
ANN, BEN, CAT = (f"{name}@{DOMAIN}" for name in ("ann", "ben", "cat"))


@dataclass
class Setup:
    """A store configured through the CLI, and the environment of the processes that serve it."""

    url: str
    env: dict[str, str]
    tmp: Path
    ews: EwsSide

    def cli(self, *args: str, input: str | None = None) -> Any:
        result = CliRunner().invoke(app, ["--database-url", self.url, *args], input=input)
        assert result.exit_code == 0, result.output
        return result

    def start(
        self, *command: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """A command in a process of its own (and process group). Returns the process and the
        file its standard output goes to; standard error goes beside it (`.err`)."""
        out = self.tmp / f"{Path(command[0]).name}-{time.monotonic_ns()}.out"
        with out.open("wb") as stdout, out.with_suffix(".err").open("wb") as stderr:
            process = subprocess.Popen(
                list(command),
                env=self.env if env is None else env,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        return process, out

    def trainer_sync(
        self, *args: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """`trainer-sync --database-url URL ARGS` in a process of its own."""
        return self.start(str(BIN / "trainer-sync"), "--database-url", self.url, *args, env=env)

    def count(self, model: Any, **where: Any) -> int:
        with db.transaction(self.url) as s:
            query = select(func.count()).select_from(model)
            for name, value in where.items():
                query = query.where(getattr(model, name) == value)
            return int(s.scalar(query) or 0)


def _events_csv(path: Path) -> Path:
    header = (
        "event_ref,course,venue,venue_address,status,session_start,session_end,trainer_emails,"
        "event_url,delegate_instructions_url,trainer_instructions_url"
    )
    start = tomorrow(9)
    rows = [
        f"EV{n},{course},Leeds Centre,1 Park Row,scheduled,{start.isoformat()},"
        f"{(start + timedelta(hours=3)).isoformat()},{who},https://lms.acme.test/{n},,"
        for n, (course, who) in enumerate((("First Aid", ANN), ("Fire Safety", CAT)), 1)
    ]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def setup(
    prefect_api: str, ews_side: EwsSide, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    """Provider Acme as an administrator sets it up: service acme-ews with its password typed
    into a Prefect Secret block (Ann out, Ben in), and service acme-spare whose secret
    variable is not set where the runs execute (Cat out)."""
    tmp = tmp_path_factory.mktemp("production")
    ews_side.reset()
    for mailbox in (ANN, BEN, CAT):
        ews_side.add_mailbox(mailbox, "Editor")
    url = f"sqlite:///{tmp / 'store.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINER_SYNC_")}
    env.pop(MISSING_SECRET_ENV, None)
    env.update(
        {
            "PREFECT_API_URL": prefect_api,
            "PREFECT_HOME": str(tmp / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
    )
    done = Setup(url, env, tmp, ews_side)
    done.cli("db", "upgrade")
    done.cli("provider", "add", "Acme", "--sync-engine")
    common = ("--endpoint", ews_side.emulator.url, "--username", MASTER, "--server-version", "15.2")
    done.cli(
        "service", "add", "--provider", "Acme", "--name", "acme-ews", *common, "--secret-stdin",
        input=f"{MASTER_PW}\n",
    )  # fmt: skip
    done.cli(
        "service", "add", "--provider", "Acme", "--name", "acme-spare", *common,
        "--secret", f"env:{MISSING_SECRET_ENV}", "--no-verify",
    )  # fmt: skip
    for email, service, direction in ((ANN, "acme-ews", "out"), (BEN, "acme-ews", "in"),
                                      (CAT, "acme-spare", "out")):  # fmt: skip
        done.cli(
            "trainer", "add", "--provider", "Acme", "--name", email[:3].title(), "--email", email
        )
        done.cli("trainer", "link", email, "--service", service, "--direction", direction)
    done.cli("events", "import", str(_events_csv(tmp / "events.csv")), "--provider", "Acme")
    ews_side.add_appointment(BEN, "Dentist", tomorrow(14), tomorrow(15))
    yield done


def _deployment_id(name: str) -> UUID:
    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name).id


def _wait_for_deployments(process: subprocess.Popen[bytes], names: list[str]) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, "the serving process exited"
        try:
            for name in names:
                _deployment_id(name)
            return
        except Exception:
            time.sleep(0.5)
    pytest.fail(f"deployments {names} were not registered in time")


def _run(deployment: str, **parameters: Any) -> FlowRun:
    """Start a run of the deployment (as the UI's Run button does) and wait for its end."""
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(
            _deployment_id(deployment), parameters=parameters
        )
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            run = client.read_flow_run(run.id)
            if run.state is not None and run.state.is_final():
                return run
            time.sleep(0.5)
    pytest.fail(f"{deployment} run {run.id} did not end within {RUN_TIMEOUT} s: {run.state}")


def _table(flow_run_id: UUID | None = None, key: str | None = None) -> list[dict[str, Any]]:
    """The rows of a run's health table, or of the latest table artifact with `key`."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]) if flow_run_id else None,
                key=ArtifactFilterKey(any_=[key]) if key else None,
            ),
        )
    # A run also publishes its clashes table; the health table is the one that says so.
    tables = sorted(
        (a for a in artifacts if a.type == "table" and (key or _is_health(a.description))),
        key=lambda a: a.created,
    )
    assert tables, f"no table artifact (run {flow_run_id}, key {key})"
    return list(json.loads(tables[-1].data))


def _is_health(description: str | None) -> bool:
    return (description or "").startswith("Per-trainer health")


def _by_trainer(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["trainer"]: row for row in rows}


def _no_engine_traceback(messages: list[str]) -> None:
    text = "\n".join(messages)
    assert "Traceback" not in text, text
    assert "Engine execution exited with unexpected exception" not in text, text


@pytest.fixture
def served(setup: Setup) -> Iterator[subprocess.Popen[bytes]]:
    """`trainer-sync serve`, as `make ui` runs it, with the cycle's schedule held still."""
    process, _ = setup.trainer_sync("serve", "--interval-minutes", "60")
    try:
        _wait_for_deployments(
            process, [f"sync-all/{cycle_name(60)}", f"sync-provider/{PROVIDER_NAME}"]
        )
        with get_client(sync_client=True) as client:
            cycle = _deployment_id(f"sync-all/{cycle_name(60)}")
            client.pause_deployment(cycle)
            for run in client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[cycle]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    ),
                )
            ):
                client.delete_flow_run(run.id)
        yield process
    finally:
        stop_group(process)


def test_served_runs_resolve_prefect_secrets_and_one_bad_service_fails_only_its_trainers(
    setup: Setup, served: subprocess.Popen[bytes]
) -> None:
    setup.ews.control.faults(latency_ms=100)  # a run long enough to tell its start from its end
    try:
        run = _run(f"sync-provider/{PROVIDER_NAME}", provider="Acme")
    finally:
        setup.ews.control.clear_faults()

    # The run ends Failed, with its message and nothing else.
    assert run.state is not None and run.state.type == StateType.FAILED
    assert run.state.message is not None
    assert run.state.message.startswith(f"1 of 3 trainers failed ({CAT})"), run.state.message
    _no_engine_traceback(run_logs(run.id))

    # The healthy service's trainers were synced; the missing secret failed Cat alone.
    rows = _by_trainer(_table(run.id))
    assert list(rows)[0] == CAT  # the failing trainer leads the table
    assert (rows[ANN]["status"], rows[ANN]["changes_this_run"]) == (
        "synced",
        "Outlook +1 ~0 -0, platform +0 ~0 -0",
    )
    assert (rows[BEN]["status"], rows[BEN]["changes_this_run"]) == (
        "synced",
        "Outlook +0 ~0 -0, platform +1 ~0 -0",
    )
    assert rows[CAT]["status"] == "failed"
    assert f"{MISSING_SECRET_ENV} is not set" in rows[CAT]["last_error"]
    assert len(setup.ews.items(ANN)) == 1 and setup.ews.items(CAT) == []
    assert setup.count(Unavailability, origin="exchange") == 1

    # History: the provider's run, from its start to its end, and one row per trainer.
    with db.transaction(setup.url) as s:
        history = list(s.scalars(select(SyncRun).where(SyncRun.flow_run_id == str(run.id))))
    provider_run = next(h for h in history if h.trainer_id is None)
    assert provider_run.status == "failed" and provider_run.finished_at is not None
    assert provider_run.finished_at - provider_run.started_at >= timedelta(seconds=0.5)
    assert run.start_time is not None
    assert abs(provider_run.started_at - run.start_time) < timedelta(seconds=5)
    assert len(history) == 4

    # A rerun of one trainer has its own artifact; the provider's latest table still shows all.
    rerun = _run(f"sync-trainer/{TRAINER_NAME}", provider="Acme", trainer=ANN)
    assert rerun.state is not None and rerun.state.is_completed(), rerun.state
    assert list(_by_trainer(_table(rerun.id))) == [ANN]
    assert sorted(_by_trainer(_table(key="trainer-sync-acme"))) == [ANN, BEN, CAT]

    # Verifying each service as a deployment run: the secret block resolves, the missing
    # variable is named, and neither run ends in a traceback.
    verified = _run(f"verify-service/{SERVICE_NAME}", service="acme-ews")
    assert verified.state is not None and verified.state.is_completed(), verified.state
    refused = _run(f"verify-service/{SERVICE_NAME}", service="acme-spare")
    assert refused.state is not None and refused.state.type == StateType.FAILED
    assert f"{MISSING_SECRET_ENV} is not set" in (refused.state.message or "")
    _no_engine_traceback(run_logs(refused.id))


def test_a_mistyped_manual_run_fails_at_once_without_retrying(
    setup: Setup, served: subprocess.Popen[bytes]
) -> None:
    run = _run(f"sync-trainer/{TRAINER_NAME}", provider="Acme", trainer="nobody@acme.test")
    assert run.state is not None and run.state.type == StateType.FAILED
    assert "Not a linked trainer of 'Acme': nobody@acme.test" in (run.state.message or "")
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        )
    (load,) = [t for t in tasks if t.name.startswith("load-provider")]
    assert load.run_count == 1  # a ConfigurationError is never worth a second try
    _no_engine_traceback(run_logs(run.id))


def test_a_process_worker_of_a_work_pool_runs_a_provider(setup: Setup) -> None:
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="acme-pool", type="process"))
    deploy, log = setup.trainer_sync(
        "deploy", "--work-pool", "acme-pool", "--interval-minutes", "60"
    )
    assert deploy.wait(timeout=RUN_TIMEOUT) == 0, log.with_suffix(".err").read_text()
    with get_client(sync_client=True) as client:
        client.pause_deployment(_deployment_id(f"sync-all/{cycle_name(60)}"))
    # A worker's runs find the store where the docs say: TRAINER_SYNC_DATABASE_URL.
    worker, _ = setup.start(
        str(BIN / "prefect"), "worker", "start", "--pool", "acme-pool", "--type", "process",
        env={**setup.env, "TRAINER_SYNC_DATABASE_URL": setup.url},
    )  # fmt: skip
    try:
        run = _run(f"sync-provider/{PROVIDER_NAME}", provider="Acme")
    finally:
        stop_group(worker)
    assert run.state is not None and run.state.type == StateType.FAILED, run.state
    with get_client(sync_client=True) as client:
        (deployment,) = client.read_deployments(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[run.deployment_id]))
        )
    assert deployment.work_pool_name == "acme-pool"
    rows = _by_trainer(_table(run.id))
    assert rows[ANN]["status"] in ("idle", "synced") and rows[ANN]["last_error"] == ""
    assert f"{MISSING_SECRET_ENV} is not set" in rows[CAT]["last_error"]
    _no_engine_traceback(run_logs(run.id))


def _wait_until_locked(setup: Setup, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while setup.count(SyncLock) == 0:
        assert process.poll() is None, (
            f"the sync ended before it took its lock: {log.with_suffix('.err').read_text()}"
        )
        assert time.monotonic() < deadline, "the sync never took its lock"
        time.sleep(0.1)


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (by parent pid, from /proc)."""
    children: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, set()).add(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), set()):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state_of(pid)


def _state_of(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}") / "status").read_text().lower()
    except OSError:
        return "zombie"


def test_a_sync_killed_mid_run_does_not_lock_its_provider(setup: Setup) -> None:
    setup.ews.control.faults(latency_ms=300)
    try:
        first, first_log = setup.trainer_sync("sync", "--provider", "Acme")
        _wait_until_locked(setup, first, first_log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        killed_at = datetime.now(UTC)
    finally:
        setup.ews.control.clear_faults()
    assert setup.count(SyncLock) == 1  # the dead run's lock is still there

    again, log = setup.trainer_sync("sync", "--provider", "Acme", "--json")
    assert again.wait(timeout=RUN_TIMEOUT) == 1  # Cat's service still has no secret
    assert datetime.now(UTC) - killed_at < timedelta(seconds=90)  # within one lease
    errors = log.with_suffix(".err").read_text()
    assert "already being synced" not in errors, errors
    rows = _by_trainer(json.loads(log.read_text()))
    assert rows[ANN]["last_error"] == "" and rows[BEN]["last_error"] == ""
    assert setup.count(SyncLock) == 0


def test_sigterm_stops_a_cli_sync_and_everything_it_started(setup: Setup) -> None:
    env = {k: v for k, v in setup.env.items() if k != "PREFECT_API_URL"}  # Prefect's own API
    # On a machine busy with the rest of the suite, the temporary API server can take longer
    # than Prefect's 20 s to start; the CLI then stops with that message before any sync.
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    setup.ews.control.faults(latency_ms=300)
    try:
        sync, log = setup.trainer_sync("sync", "--provider", "Acme", env=env)
        _wait_until_locked(setup, sync, log)
        started = _descendants(sync.pid)
        assert started, "the sync started no temporary Prefect server"
        sync.send_signal(signal.SIGTERM)
        code = sync.wait(timeout=60)
    finally:
        setup.ews.control.clear_faults()
    assert code == 128 + signal.SIGTERM, log.with_suffix(".err").read_text()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in started if _alive(pid)], "a process outlived the CLI"
    assert setup.count(SyncLock) == 0  # the interrupted run let go of its provider
    assert "Traceback" not in log.read_text() + log.with_suffix(".err").read_text()
