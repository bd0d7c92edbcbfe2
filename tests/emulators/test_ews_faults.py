"""Throttling, injected faults, persistence and robustness of the EWS emulator."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time

import pytest
import requests
from exchangelib.errors import (
    ErrorInternalServerError,
    ErrorInvalidOperation,
    ErrorServerBusy,
    ErrorTimeoutExpired,
)
from exchangelib.items import SAVE_ONLY, SEND_TO_NONE
from exchangelib.protocol import FaultTolerance
from exchangelib.services import CreateItem
from exchangelib.util import MNS, TNS
from lxml import etree
from typer.testing import CliRunner

from emulators.ews import run_ews_emulator
from emulators.ews.behaviour import REQUEST_LOG_SIZE, Behaviour
from trainer_sync.cli.emulator import app as emulator_cli

from .conftest import MASTER, MASTER_PW, TRAINER, TRAINER_PW, account, event


def test_throttled_account_gets_server_busy_with_back_off(org):
    acc = account(org)
    acc.calendar  # noqa: B018 - warm up before throttling
    org.control.throttling(throttle={MASTER: 5000})
    with pytest.raises(ErrorServerBusy) as busy:
        event(acc, "Busy").save()
    assert 4 < busy.value.back_off <= 5
    # Every request of that account during the back-off is refused too.
    with pytest.raises(ErrorServerBusy):
        list(acc.calendar.all())
    assert org.control.items(TRAINER) == []
    own = account(org, user=TRAINER, password=TRAINER_PW)
    assert list(own.calendar.all()) == []  # other accounts are not throttled


def test_exchangelib_retry_policy_honours_the_back_off(org):
    acc = account(org, retry_policy=FaultTolerance(max_wait=10))
    acc.calendar  # noqa: B018
    org.control.throttling(throttle={MASTER: 600})
    started = time.monotonic()
    event(acc, "After back-off").save()
    assert time.monotonic() - started >= 0.6
    assert [i["subject"] for i in org.control.items(TRAINER)] == ["After back-off"]
    refused = org.control.counters()["refused"]
    assert refused and refused[0]["code"] == "ErrorServerBusy"


def test_request_log_times_every_request_with_its_answer(org):
    acc = account(org)
    before = time.monotonic()
    acc.calendar  # noqa: B018 - one GetFolder
    org.control.throttling(throttle={MASTER: 400})
    with pytest.raises(ErrorServerBusy):
        event(acc, "Busy").save()
    own = account(org, user=TRAINER, password=TRAINER_PW)
    list(own.calendar.filter(subject="x"))
    after = time.monotonic()

    log = org.control.requests()
    rows = [(r["account"], r["mailbox"], r["operation"], r["response_code"]) for r in log]
    busy = rows.index((MASTER, TRAINER, "CreateItem", "ErrorServerBusy"))
    assert set(rows[:busy]) == {(MASTER, TRAINER, "GetFolder", "NoError")}  # the warm-up
    assert (TRAINER, TRAINER, "FindItem", "NoError") in rows[busy + 1 :]
    assert 350 < log[busy]["back_off_ms"] <= 400 and log[0]["back_off_ms"] is None
    # Thread mode: the log's clock is this process's time.monotonic().
    times = [r["t"] for r in log]
    assert before <= times[0] and times == sorted(times) and times[-1] <= after
    utc = dt.datetime.fromisoformat(log[0]["utc"])
    assert abs((dt.datetime.now(dt.UTC) - utc).total_seconds()) < 10
    assert org.control.requests(account=TRAINER) == log[busy + 1 :]
    requests.post(org.url, data=b"<x/>", auth=(MASTER, "wrong"), timeout=5)
    refused = org.control.requests()[-1]
    assert (refused["account"], refused["operation"], refused["response_code"]) == (
        None,
        None,
        "HTTP 401",
    )
    org.control.reset_counters()
    assert org.control.requests() == []


def test_request_log_keeps_only_the_most_recent_requests():
    beh = Behaviour()
    for n in range(REQUEST_LOG_SIZE + 5):
        beh.log_request({"n": n})
    kept = beh.requests()
    assert len(kept) == REQUEST_LOG_SIZE
    assert kept[0] == {"n": 5} and kept[-1] == {"n": REQUEST_LOG_SIZE + 4}


def test_a_busy_item_of_a_batch_carries_its_back_off_until_its_count_is_spent(org):
    acc = account(org)
    acc.calendar  # noqa: B018
    org.control.reset_counters()
    org.control.faults(
        refuse=[
            {
                "subject_matches": "^Busy$",
                "response_code": "ErrorServerBusy",
                "count": 2,
                "back_off_ms": 750,
            }
        ]
    )
    svc = CreateItem(account=acc)
    payload = svc.get_payload(
        items=[event(acc, s) for s in ("Before", "Busy", "After")],
        folder=acc.calendar,
        message_disposition=SAVE_ONLY,
        send_meeting_invitations=SEND_TO_NONE,
    )
    messages = list(svc._get_response_xml(payload=payload))
    codes = [msg.findtext(f"{{{MNS}}}ResponseCode") for msg in messages]
    assert codes == ["NoError", "ErrorServerBusy", "NoError"]
    values = messages[1].findall(f"{{{MNS}}}MessageXml/{{{TNS}}}Value")
    assert [(v.get("Name"), v.text) for v in values] == [("BackOffMilliseconds", "750")]
    # Stock exchangelib raises a per-item ErrorServerBusy without reading its MessageXml.
    with pytest.raises(ErrorServerBusy):
        acc.bulk_create(folder=acc.calendar, items=[event(acc, "Busy")])
    # The count is spent: the item goes through.
    acc.bulk_create(folder=acc.calendar, items=[event(acc, "Busy")])
    assert sorted(i["subject"] for i in org.control.items(TRAINER)) == ["After", "Before", "Busy"]
    log = org.control.requests(operation="CreateItem")
    assert [(r["response_code"], r["items"], r["item_errors"], r["back_off_ms"]) for r in log] == [
        ("ErrorServerBusy", 3, {"ErrorServerBusy": 1}, 750),
        ("ErrorServerBusy", 1, {"ErrorServerBusy": 1}, 750),
        ("NoError", 1, {}, None),
    ]


def test_concurrency_limit_per_account(org):
    org.control.throttling(max_concurrent=1, back_off_ms=300)
    org.control.faults(latency_ms=150)
    # Three clients of the one master account, one connection each (the sign-in names differ
    # only in case, so exchangelib keeps three protocols). One client with three pooled
    # connections would risk an exchangelib 5.6 deadlock: on ErrorServerBusy it shrinks its
    # session pool while holding the pool lock, and may try to grow it under the same lock.
    clients = [
        account(org, user=user, retry_policy=FaultTolerance(max_wait=20))
        for user in (MASTER, MASTER.upper(), MASTER.title())
    ]
    for acc in clients:
        acc.calendar  # noqa: B018
    errors: list[Exception] = []

    def create(n: int) -> None:
        try:
            event(clients[n], f"Parallel {n}").save()
        except Exception as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(org.control.items(TRAINER)) == 3
    assert any(r["code"] == "ErrorServerBusy" for r in org.control.counters()["refused"])
    assert {r["account"] for r in org.control.requests()} == {MASTER}  # one account throttled


def test_scheduled_failures_and_http_errors(org):
    acc = account(org)
    org.control.faults(schedule=[{"operation": "CreateItem", "count": 2}])
    for _ in range(2):
        with pytest.raises(ErrorInternalServerError):
            event(acc, "Fails").save()
    event(acc, "Works").save()
    assert [i["subject"] for i in org.control.items(TRAINER)] == ["Works"]

    org.control.faults(schedule=[{"operation": "FindItem", "count": 1, "http_status": 500}])
    with pytest.raises(ErrorServerBusy, match="Server Error in 'EWS' Application"):
        list(acc.calendar.all())
    # A different sign-in, so exchangelib does not reuse the fail-fast protocol it cached.
    patient = account(
        org, user=TRAINER, password=TRAINER_PW, retry_policy=FaultTolerance(max_wait=10)
    )
    org.control.faults(schedule=[{"operation": "FindItem", "count": 1, "http_status": 500}])
    assert [i.subject for i in patient.calendar.all()] == ["Works"]


def test_random_http_500_and_dropped_connections(org):
    acc = account(org)
    acc.calendar  # noqa: B018
    org.control.faults(error_rate=1.0)
    with pytest.raises(ErrorServerBusy, match="Server Error in 'EWS' Application"):
        list(acc.calendar.all())
    org.control.faults(clear=True, drop_rate=1.0)
    with pytest.raises((ErrorTimeoutExpired, ErrorServerBusy)):
        list(acc.calendar.all())
    org.control.clear_faults()
    assert list(acc.calendar.all()) == []
    codes = [r["response_code"] for r in org.control.requests()]
    assert "HTTP 500" in codes and "dropped" in codes and codes[-1] == "NoError"


def test_state_file_survives_a_restart(tmp_path):
    state = tmp_path / "ews-state.json"
    with run_ews_emulator(state_file=state) as first:
        first.control.add_account(MASTER, MASTER_PW)
        first.control.add_account(TRAINER, TRAINER_PW)
        first.control.grant(owner=TRAINER, grantee=MASTER)
        acc = account(first)
        event(acc, "Persistent").save()
        list(acc.calendar.sync_items())
        token = acc.calendar.item_sync_state
    assert state.exists()
    with run_ews_emulator(state_file=state) as second:
        acc = account(second)
        assert [i.subject for i in acc.calendar.all()] == ["Persistent"]
        assert list(acc.calendar.sync_items(sync_state=token)) == []


def test_malformed_soap_gets_an_ews_error_not_a_crash(org):
    for body in (b"this is not xml", b"<a/>", b"<?xml version='1.0'?><s:Envelope xmlns:s='x'/>"):
        r = requests.post(org.url, data=body, auth=(MASTER, MASTER_PW), timeout=5)
        assert r.status_code == 500
        fault = etree.fromstring(r.content)
        codes = fault.xpath("//*[local-name()='ResponseCode']/text()")
        assert codes == ["ErrorSchemaValidation"]
    assert list(account(org).calendar.all()) == []  # still serving


def test_unsupported_operation_is_named(org):
    acc = account(org)
    with pytest.raises(ErrorInvalidOperation, match="GetUserOofSettings"):
        acc.oof_settings  # noqa: B018


def test_subprocess_mode(org):
    with run_ews_emulator(subprocess=True) as ews:
        ews.control.add_account(MASTER, MASTER_PW)
        ews.control.add_account(TRAINER, TRAINER_PW)
        ews.control.grant(owner=TRAINER, grantee=MASTER)
        event(account(ews), "In a subprocess").save()
        assert [i["subject"] for i in ews.control.items(TRAINER)] == ["In a subprocess"]


def test_cli_refuses_non_loopback_addresses():
    proc = subprocess.run(
        [sys.executable, "-m", "emulators.ews", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "not a loopback address" in proc.stderr and "--allow-remote" in proc.stderr
    result = CliRunner().invoke(emulator_cli, ["ews", "--host", "192.0.2.10", "--port", "0"])
    assert result.exit_code == 2
