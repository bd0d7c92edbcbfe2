"""Run the real `trainer-sync` command through typer's runner against a test database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from trainer_sync.cli import app

Invoke = Callable[..., Result]


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
        (
            "service",
            "add",
            "--provider",
            "Acme",
            "--name",
            "acme-ews",
            "--endpoint",
            "https://mail.acme.test/EWS/Exchange.asmx",
            "--username",
            "master@acme.test",
            "--secret",
            "env:ACME_EWS_PASSWORD",
            "--no-verify",
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
