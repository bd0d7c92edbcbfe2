"""The state file: written so that a crash or a reader never sees half of it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any, prefix: str) -> None:
    """Write data as JSON to path via a temp file in the same directory and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data)  # serialise first: a failure must not leave a temp file behind
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class StateFileError(ValueError):
    """A state file that cannot be read back: not JSON, cut short, or not this emulator's."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"The state file {path} cannot be used: {reason}. It was left as it is. Move it "
            "away (or delete it) to start with an empty organisation, or give another --state "
            "file."
        )
        self.path = path


def read_state(path: Path) -> dict[str, Any]:
    """The JSON object a state file holds; StateFileError when it holds none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StateFileError(
            path, f"it is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateFileError(path, f"it cannot be read ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise StateFileError(path, f"it holds a JSON {type(data).__name__}, not a state object")
    return data


@contextmanager
def restoring(path: Path, what: str) -> Iterator[None]:
    """Turn a state object of the wrong shape (a missing key, a value of the wrong type) into
    a StateFileError naming the file, instead of a traceback from deep inside the loader."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, StateFileError):
            raise
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise StateFileError(path, f"it is not a saved {what} state ({detail})") from None
