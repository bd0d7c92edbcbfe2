"""Run the real `trainer-sync` command through typer's runner against a test database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from trainer_sync.cli import app

Invoke = Callable[..., Result]
EWS_URL = "https://mail.acme.test/EWS/Exchange.asmx"


def service_add(
    name: str = "s2",
    *,
    provider: str = "Acme",
    endpoint: str = EWS_URL,
    username: str = "m@acme.test",
    secret: str | None = "env:X",
    **options: str | bool,
) -> tuple[str, ...]:
    """The arguments of `service add`: `access="owner"` adds `--access owner`,
    `no_verify=True` adds `--no-verify`, `secret=None` leaves the secret out."""
    args = ["service", "add", "--provider", provider, "--name", name]
    args += ["--endpoint", endpoint, "--username", username]
    if secret is not None:
        args += ["--secret", secret]
    for option, value in options.items():
        flag = "--" + option.replace("_", "-")
        args += [flag] if value is True else [flag, str(value)]
    return tuple(args)


@pytest.fixture
def cli(db_url: str) -> Invoke:
    """`cli("provider", "add", "Acme")` runs the command; `input=` feeds standard input."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, ["--database-url", db_url, *args], input=input)

    return invoke


def as_json(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def configured(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Provider Acme with service acme-ews and trainers Ann (linked) and Bob (not linked)."""
    monkeypatch.setenv("ACME_EWS_PASSWORD", "not-used")
    for args in (
        ("provider", "add", "Acme", "--sync-engine"),
        service_add(
            "acme-ews", username="master@acme.test", secret="env:ACME_EWS_PASSWORD", no_verify=True
        ),
        ("trainer", "add", "--provider", "Acme", "--name", "Ann", "--email", "ann@acme.test"),
        ("trainer", "add", "--provider", "Acme", "--name", "Bob", "--email", "bob@acme.test"),
        ("trainer", "link", "ann@acme.test", "--service", "acme-ews", "--direction", "out"),
    ):
        result = cli(*args)
        assert result.exit_code == 0, result.output
    return cli


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip())
    return path
