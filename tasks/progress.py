"""Progress of a provider run, for an in-process observer such as the CLI's progress bar.

Tasks report trainers done per stage; nothing is reported when nobody listens. Prefect's
own UI shows task runs; this only serves a terminal watching a long run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Listener = Callable[[str, int, int], None]  # (stage, done, total)

_listeners: list[Listener] = []
_lock = threading.Lock()


def listen(listener: Listener) -> Callable[[], None]:
    """Register a listener; returns a function that unregisters it."""
    with _lock:
        _listeners.append(listener)

    def stop() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return stop


def report(stage: str, done: int, total: int) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(stage, done, total)
