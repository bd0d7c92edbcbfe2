"""Providers, services, trainers and links through the CLI, good input and bad."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Invoke, as_json, service_add


def test_a_newcomer_can_configure_a_provider(configured: Invoke) -> None:
    providers = as_json(configured("provider", "list", "--json"))
    assert providers == [{"name": "Acme", "sync_engine_enabled": True, "timezone": "Europe/London"}]
    services = as_json(configured("service", "list", "--json"))
    assert services[0]["name"] == "acme-ews"
    assert services[0]["secret_ref"] == "env:ACME_EWS_PASSWORD"
    assert services[0]["access_type"] == "delegate"
    trainers = {t["email"]: t for t in as_json(configured("trainer", "list", "--json"))}
    assert trainers["ann@acme.test"]["direction"] == "out"
    assert trainers["ann@acme.test"]["mailbox"] == "ann@acme.test"
    assert trainers["bob@acme.test"]["service"] is None


def test_tables_are_printed_without_json(configured: Invoke) -> None:
    result = configured("trainer", "list", "--provider", "Acme")
    assert result.exit_code == 0
    assert "Trainers" in result.stdout and "acme-ews" in result.stdout


def test_relinking_changes_direction_and_calendar(configured: Invoke) -> None:
    result = configured(
        "trainer",
        "link",
        "ann@acme.test",
        "--service",
        "acme-ews",
        "--direction",
        "both",
        "--no-calendar",
    )
    assert result.exit_code == 0, result.output
    ann = next(t for t in as_json(configured("trainer", "list", "--json")) if t["name"] == "Ann")
    assert (ann["direction"], ann["calendar"]) == ("both", False)
    assert configured("trainer", "unlink", "ann@acme.test").exit_code == 0
    ann = next(t for t in as_json(configured("trainer", "list", "--json")) if t["name"] == "Ann")
    assert ann["service"] is None


def _state(cli: Invoke) -> tuple:
    return (
        as_json(cli("provider", "list", "--json")),
        as_json(cli("service", "list", "--json")),
        as_json(cli("trainer", "list", "--json")),
    )


BAD_INPUT = [
    pytest.param(
        ("trainer", "link", "bob@acme.test", "--service", "acme-ews", "--direction", "sideways"),
        "Unknown direction 'sideways'",
        "'in'",
        id="bad-direction",
    ),
    pytest.param(
        (
            "trainer",
            "link",
            "bob@acme.test",
            "--service",
            "acme-ews",
            "--direction",
            "in",
            "--mailbox",
            "bob@elsewhere.test",
        ),
        "domain 'elsewhere.test'",
        "'acme.test'",
        id="domain-mismatch",
    ),
    pytest.param(
        ("trainer", "add", "--provider", "Nope", "--name", "X", "--email", "x@acme.test"),
        "Unknown provider 'Nope'",
        "provider list",
        id="unknown-provider",
    ),
    pytest.param(
        ("trainer", "link", "bob@acme.test", "--service", "nope", "--direction", "in"),
        "Unknown service 'nope'",
        "service list",
        id="unknown-service",
    ),
    pytest.param(
        ("trainer", "link", "zed@acme.test", "--service", "acme-ews", "--direction", "in"),
        "Unknown trainer 'zed@acme.test'",
        "trainer add",
        id="unknown-trainer",
    ),
    pytest.param(
        ("trainer", "add", "--provider", "Acme", "--name", "Ann 2", "--email", "ANN@acme.test"),
        "already has a trainer with email 'ann@acme.test'",
        "unique within a provider",
        id="duplicate-email",
    ),
    pytest.param(
        service_add(secret="hunter2"),
        "Malformed secret reference",
        "env:VARIABLE",
        id="malformed-secret-ref",
    ),
    pytest.param(
        service_add(endpoint="mail.acme.test"),
        "not an http(s) URL",
        "EWS URL",
        id="bad-endpoint",
    ),
    pytest.param(
        service_add(access="owner"),
        "Unknown access type 'owner'",
        "delegate, impersonation",
        id="bad-access",
    ),
    pytest.param(
        ("provider", "add", "Acme"),
        "Provider 'Acme' already exists",
        "another name",
        id="duplicate-provider",
    ),
]


@pytest.mark.parametrize(("args", "message", "hint"), BAD_INPUT)
def test_bad_input_is_refused_clearly_and_writes_nothing(
    configured: Invoke, args: tuple, message: str, hint: str
) -> None:
    before = _state(configured)
    result = configured(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "What to do:" in result.stderr and hint in result.stderr
    assert "Traceback" not in result.output
    assert _state(configured) == before


def test_a_database_without_schema_says_to_upgrade(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from trainer_sync.cli import app

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = CliRunner().invoke(app, ["--database-url", url, "provider", "list"])
    assert result.exit_code == 2
    assert "trainer-sync db upgrade" in result.stderr


def test_provider_rules_are_checked_saved_and_shown(configured: Invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "acme.yaml"
    good.write_text("window:\n  future_days: 90\nout:\n  reminder_minutes: 30\n")
    assert configured("provider", "set-rules", "Acme", "--file", str(good)).exit_code == 0
    rules = as_json(configured("provider", "rules", "Acme", "--json"))
    assert rules["window"] == {"past_days": 7, "future_days": 90}
    assert rules["out"]["reminder_minutes"] == 30
    assert rules["out"]["show_as"] == "Busy"  # untouched defaults stay

    bad = tmp_path / "bad.yaml"
    bad.write_text("window:\n  future_days: -3\n")
    result = configured("provider", "set-rules", "Acme", "--file", str(bad))
    assert result.exit_code == 2
    assert str(bad) in result.stderr and "window.future_days" in result.stderr
    assert as_json(configured("provider", "rules", "Acme", "--json"))["window"]["future_days"] == 90

    assert configured("provider", "set-rules", "Acme", "--reset").exit_code == 0
    assert (
        as_json(configured("provider", "rules", "Acme", "--json"))["window"]["future_days"] == 365
    )


def test_settings_the_connector_would_refuse_are_refused_before_saving(configured: Invoke) -> None:
    result = configured(
        *service_add("app", auth="oauth2", tenant="t", client_id="c", no_verify=True)
    )
    assert result.exit_code == 2
    assert "use access_type impersonation" in result.stderr
    assert [s["name"] for s in as_json(configured("service", "list", "--json"))] == ["acme-ews"]
