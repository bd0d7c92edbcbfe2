"""The connector's pure parts: service config, the tag format, the retry policy and gate."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.exchange import ActionResult, ExchangeAction, engine_writes_from
from connectors.exchange.config import ServiceConfig
from connectors.exchange.errors import (
    AuthenticationFailed,
    ServerBusy,
    ServiceUnavailable,
    is_transient,
)
from connectors.exchange.retry import AccountGate, Failure, RetryPolicy, gate_for, run_with_retry
from connectors.exchange.tag import GRAPH_TAG_PROPERTY_ID, decode_tag, encode_tag
from sync_rules.errors import ConfigurationError
from tests.connectors.conftest import VirtualTime

BASE = {
    "name": "contoso",
    "endpoint": "https://mail.contoso.test/EWS/Exchange.asmx",
    "username": "master@contoso.test",
    "secret_ref": "env:EXCHANGE_PASSWORD",
}


def test_service_config_defaults_are_safe():
    cfg = ServiceConfig(**BASE)
    assert (cfg.backend, cfg.auth_type, cfg.access_type) == ("ews", "basic", "delegate")
    assert cfg.verify_tls and cfg.ca_bundle is None
    assert cfg.max_connections == 8
    assert cfg.authority_host == "https://login.microsoftonline.com"
    assert cfg.master_domain == "contoso.test"
    assert ServiceConfig(**BASE, server_version="15.2").version_tuple == (15, 2)
    with pytest.raises(ValidationError, match="frozen"):
        cfg.name = "x"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"max_connections": 28}, "max_connections"),
        ({"max_connections": 0}, "max_connections"),
        ({"endpoint": "mail.contoso.test"}, "not an http(s) URL"),
        ({"auth_type": "kerberos"}, "auth_type"),
        ({"access_type": "owner"}, "access_type"),
        ({"backend": "graph"}, "backend"),
        ({"auth_type": "oauth2", "access_type": "impersonation"}, "tenant_id and client_id"),
        ({"server_version": "2019"}, "server_version"),
        ({"verify_tls": False, "ca_bundle": "/ca.pem"}, "CA bundle"),
        ({"read_timeout": 0}, "timeouts"),
    ],
)
def test_service_config_rejects_bad_settings_with_a_clear_message(overrides, fragment):
    with pytest.raises(ConfigurationError) as caught:
        ServiceConfig(**{**BASE, **overrides})
    assert fragment in caught.value.message
    assert "contoso" in caught.value.message


def test_tag_round_trip_and_damaged_tags():
    assert decode_tag(encode_tag("session:42", "abc123")) == ("session:42", "abc123")
    assert decode_tag("session:42") == ("session:42", None)
    assert decode_tag(None) == (None, None) and decode_tag("") == (None, None)
    with pytest.raises(ValueError):
        encode_tag("bad|key", "h")
    assert GRAPH_TAG_PROPERTY_ID == (
        "String {7d3c8a2e-5b41-4f0e-9a6c-2f1e8b9d4c31} Name TrainerSyncTag"
    )


def test_engine_writes_come_from_successful_results():
    actions = [
        ExchangeAction("create", "a"),
        ExchangeAction("update", "b", item_id="id-b", change_key="ck-b"),
        ExchangeAction("delete", "c", item_id="id-c"),
        ExchangeAction("create", "d"),
    ]
    results = [
        ActionResult(True, "id-a", "ck-a1"),
        ActionResult(True, "id-b", "ck-b2"),
        ActionResult(True, "id-c"),
        ActionResult(False, error="InvalidItem"),
    ]
    assert engine_writes_from(actions, results) == {"id-a": "ck-a1", "id-b": "ck-b2", "id-c": None}


def test_transient_classification_for_retry_conditions():
    assert is_transient(ServiceUnavailable("x")) and is_transient(ServerBusy("x"))
    assert not is_transient(AuthenticationFailed("x")) and not is_transient(ValueError())


class Busy(Exception):
    pass


class Flaky(Exception):
    pass


def classify(exc):
    if isinstance(exc, Busy):
        return Failure("busy", ServerBusy("busy"), back_off=exc.args[0])
    if isinstance(exc, Flaky):
        return Failure("transient", ServiceUnavailable("flaky"), repeatable=exc.args[0])
    return Failure("permanent", AuthenticationFailed("denied"))


def run(op, fake, policy=RetryPolicy(), idempotent=True, gate=None):
    gate = gate or AccountGate(("e", "u"), clock=fake.clock)
    return run_with_retry(
        op, gate=gate, classify=classify, policy=fake.policy(policy), idempotent=idempotent
    )


def failing(*errors):
    pending = list(errors)

    def op():
        if pending:
            raise pending.pop(0)
        return "done"

    return op


def test_busy_waits_exactly_the_server_back_off_and_closes_the_gate_for_everyone():
    fake = VirtualTime()
    gate = AccountGate(("e", "u"), clock=fake.clock)
    assert run(failing(Busy(1.5), Busy(0.5)), fake, gate=gate) == "done"
    assert fake.sleeps == [1.5, 0.5]
    gate.hold(3.0)
    assert gate.remaining == 3.0
    gate.hold(1.0)  # never shortens a hold
    assert gate.remaining == 3.0


def test_transient_failures_back_off_exponentially_with_jitter_and_give_up():
    fake = VirtualTime()
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=3.0, max_elapsed=100)
    with pytest.raises(ServiceUnavailable):
        run(failing(*[Flaky(True)] * 10), fake, policy=policy)
    assert len(fake.sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(fake.sleeps, [2.0, 3.0, 3.0], strict=True))


def test_retries_stop_at_the_time_budget():
    fake = VirtualTime()
    policy = RetryPolicy(max_elapsed=10.0)
    with pytest.raises(ServerBusy) as caught:
        run(failing(*[Busy(4.0)] * 10), fake, policy=policy)
    assert "throttling" in caught.value.message
    assert sum(fake.sleeps) <= 10.0


def test_permanent_failures_and_unrepeatable_writes_are_not_retried():
    fake = VirtualTime()
    with pytest.raises(AuthenticationFailed):
        run(failing(KeyError("x")), fake)
    with pytest.raises(ServiceUnavailable):
        run(failing(Flaky(False)), fake, idempotent=False)
    assert run(failing(Flaky(True)), fake, idempotent=False) == "done"
    assert len(fake.sleeps) == 1


def test_gates_are_shared_per_account():
    a = gate_for("https://Mail.contoso.test/EWS/Exchange.asmx", "Master@contoso.test")
    b = gate_for("https://mail.contoso.test/EWS/Exchange.asmx", "master@contoso.test")
    c = gate_for("https://mail.contoso.test/EWS/Exchange.asmx", "other@contoso.test")
    assert a is b and a is not c
    # A hold is a deadline on one clock: connectors on another clock have gates of their own.
    virtual = VirtualTime()
    d = gate_for(
        "https://mail.contoso.test/EWS/Exchange.asmx", "master@contoso.test", virtual.clock
    )
    assert d is not a
    assert d is gate_for(
        "https://mail.contoso.test/EWS/Exchange.asmx", "master@contoso.test", virtual.clock
    )
