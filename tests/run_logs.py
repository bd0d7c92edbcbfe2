"""A flow run's logs as the Prefect server holds them, once they have all arrived (a run's log
records travel to the server in batches, after the run itself may have ended)."""

from __future__ import annotations

import time
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId


def run_logs(flow_run_id: UUID, wait_s: float = 30) -> list[str]:
    """The run's log messages, once its last record (the final state) has arrived."""
    deadline = time.monotonic() + wait_s
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
            messages = [log.message for log in logs]
            if any("Finished in state" in m for m in messages) or time.monotonic() > deadline:
                return messages
            time.sleep(0.5)
