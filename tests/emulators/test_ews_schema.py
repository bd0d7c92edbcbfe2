"""The emulator held to Microsoft's EWS schema, in both directions.

Requests that do not validate are refused with ErrorSchemaValidation, as Exchange refuses
them; responses are checked too, and the suite's own fixture (tests/conftest.py) fails any
test whose traffic made the emulator send one that does not validate.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from exchangelib.errors import ErrorSchemaValidation
from lxml import etree

from emulators.ews import run_ews_emulator
from emulators.ews.schema import SCHEMA_ENV, EwsSchema, SchemaNotFound, Violation, report
from tests.conftest import EWS_SCHEMA_DIR, EWS_SCHEMA_MISSING

from .conftest import MASTER, TRAINER, account

pytestmark = pytest.mark.skipif(EWS_SCHEMA_MISSING is not None, reason=str(EWS_SCHEMA_MISSING))

M = "{http://schemas.microsoft.com/exchange/services/2006/messages}"
T = "{http://schemas.microsoft.com/exchange/services/2006/types}"


def test_a_request_the_schema_refuses_is_refused_as_exchange_does(org) -> None:  # type: ignore[no-untyped-def]
    acc = account(org)
    # exchangelib puts every name in one ResolveNames; the schema allows one UnresolvedEntry.
    with pytest.raises(ErrorSchemaValidation, match="UnresolvedEntry"):
        acc.protocol.resolve_names([TRAINER, MASTER])
    (violation,) = org.control.schema_violations()
    assert violation["direction"] == "request" and violation["message"] == "ResolveNames"
    assert list(acc.calendar.all()) == []  # and it goes on serving


def test_without_a_schema_nothing_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEMA_ENV)
    with run_ews_emulator() as ews:
        ews.control.add_account(MASTER, "master-pw")
        ews.control.add_account(TRAINER, "pw")
        names = account(ews).protocol.resolve_names([TRAINER, MASTER])
        assert len(names) == 2
        assert ews.control.schema_violations() == []


def test_a_response_that_breaks_the_schema_is_named_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = EwsSchema(EWS_SCHEMA_DIR)
    response = etree.Element(f"{M}GetItemResponse")
    messages = etree.SubElement(response, f"{M}ResponseMessages")
    message = etree.SubElement(messages, f"{M}GetItemResponseMessage", ResponseClass="Error")
    etree.SubElement(message, f"{M}ResponseCode").text = "ErrorItemNotFound"
    problem, _line = schema.problem(response) or ("", 0)
    assert "Missing child element" in problem and "Items" in problem
    etree.SubElement(message, f"{M}Items")
    assert schema.problem(response) is None

    target = tmp_path / "violations.jsonl"
    monkeypatch.setenv("EWS_EMULATOR_SCHEMA_REPORT", str(target))
    report(Violation("response", "GetItemResponse", problem, 0))
    (line,) = target.read_text().splitlines()
    assert json.loads(line) == {
        "direction": "response", "message": "GetItemResponse", "problem": problem, "line": 0,
    }  # fmt: skip


def test_a_folder_without_the_schema_is_refused_before_listening(tmp_path: Path) -> None:
    with pytest.raises(SchemaNotFound, match="messages.xsd"):
        EwsSchema(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "emulators.ews", "--port", "0", "--schema", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "cannot load the EWS schema" in done.stderr and "Traceback" not in done.stderr
