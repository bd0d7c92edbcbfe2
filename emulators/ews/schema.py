"""Microsoft's EWS schema, held against what the emulator answers and what it is sent.

Exchange publishes `messages.xsd` and `types.xsd` (at /EWS/messages.xsd on a server); every
request and response message of EWS is declared there, element by element and in order. The
emulator does not ship them: give their folder with `--schema DIR` (or `schema_dir=`, or the
`EWS_EMULATOR_SCHEMA` environment variable, which emulators started in subprocesses inherit).

With a schema:
- a request whose message (the element inside `soap:Body`) does not validate is answered
  with `ErrorSchemaValidation`, as Exchange answers it;
- a response that does not validate is still sent (the client's view of the bug is part of
  the bug), and reported: to the emulator's control API (`/_control/schema-violations`) and,
  when `EWS_EMULATOR_SCHEMA_REPORT` names a file, as one JSON line appended to it. The test
  suite reads that file to fail the test whose traffic broke the schema.

Without one, nothing is checked.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from emulators.common.runner import SetupRefused

SCHEMA_ENV = "EWS_EMULATOR_SCHEMA"
REPORT_ENV = "EWS_EMULATOR_SCHEMA_REPORT"
MESSAGES = "messages.xsd"


class SchemaNotFound(SetupRefused):
    """The schema folder given has no readable messages.xsd."""


@dataclass(frozen=True)
class Violation:
    """One message that does not validate: which, and the schema's first complaint."""

    direction: str  # "request" or "response"
    message: str  # the element's local name, e.g. GetItemResponse
    problem: str
    line: int


@functools.cache
def _compiled(folder: str) -> etree.XMLSchema:
    # Compiling the schema takes about a second; every server of a process shares it.
    path = Path(folder) / MESSAGES
    try:
        return etree.XMLSchema(etree.parse(str(path)))
    except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise SchemaNotFound(f"cannot load the EWS schema {path}: {exc}") from None


class EwsSchema:
    """messages.xsd (with types.xsd beside it), compiled once per process and folder."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = str(Path(folder).resolve())
        self._schema = _compiled(self.folder)

    def problem(self, message: etree._Element) -> tuple[str, int] | None:
        """(first problem, line) if `message` (a request or response element) is invalid."""
        if self._schema.validate(message):
            return None
        error = self._schema.error_log.last_error
        return (error.message, error.line) if error else ("invalid", 0)


def schema_from(folder: str | Path | None) -> EwsSchema | None:
    """The schema in `folder`, else in $EWS_EMULATOR_SCHEMA, else none."""
    chosen = folder if folder is not None else os.environ.get(SCHEMA_ENV) or None
    return EwsSchema(chosen) if chosen else None


def report(violation: Violation) -> None:
    """Append `violation` to the file named by $EWS_EMULATOR_SCHEMA_REPORT, if any."""
    target = os.environ.get(REPORT_ENV)
    if not target:
        return
    line = json.dumps(violation.__dict__) + "\n"
    # One write of one line in append mode: lines of several processes do not interleave.
    with open(target, "a", encoding="utf-8") as out:
        out.write(line)
