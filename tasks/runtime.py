"""What the tasks share: which failures are worth a Prefect retry, and how trainers are chunked."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypedDict, TypeVar

from prefect.logging import get_run_logger

from connectors.exchange.errors import is_transient
from connectors.platform.db import is_transient_database_error

T = TypeVar("T")

#: Trainers handled by one extract/load task run: few enough task runs at thousands of
#: trainers (Prefect costs ~5–14 ms per task run), while each trainer keeps its own row in
#: the run's table artifact and its own sync_runs history.
TRAINERS_PER_TASK = 50


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The logger of the current Prefect run (its logs reach the UI), or the product's own
    when the code runs outside one."""
    try:
        return get_run_logger()
    except Exception:  # no run context: a test or a helper called directly
        return logging.getLogger("trainer_sync")


def is_worth_retrying(exc: BaseException) -> bool:
    """A failure that may pass by itself: Exchange's transient ones (throttling, 5xx, resets,
    timeouts) and a lost or locked store connection. Everything else (bad configuration,
    missing rights, a refused item, a bug) fails at once: repeating it only costs time."""
    return is_transient(exc) or is_transient_database_error(exc)


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn` of every retried task: retry only what `is_worth_retrying`."""
    try:
        state.result()
    except Exception as exc:  # the task's own exception, re-raised by its state
        return is_worth_retrying(exc)
    return False


class Retries(TypedDict):
    retries: int
    retry_delay_seconds: list[float]
    retry_condition_fn: Callable[[Any, Any, Any], bool]


#: The retries of a task whose whole repeat is safe (a read, or one store transaction):
#: twice, after 2 s and then 10 s, and only for failures that may pass by themselves.
RETRY_IF_TRANSIENT = Retries(
    retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=retry_if_transient
)


def chunks(items: Sequence[T], size: int = TRAINERS_PER_TASK) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
