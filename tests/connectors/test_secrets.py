"""Secret references are checked when stored and resolved only on demand."""

from __future__ import annotations

import os

import pytest

from connectors.secrets import environment_resolver, parse_secret_ref, resolve_secret
from sync_rules.errors import ConfigurationError


@pytest.mark.parametrize(
    "ref", ["hunter2", "env:", "env:1BAD", "vault:x", "prefect-secret:Bad_Name"]
)
def test_malformed_references_are_refused_with_the_accepted_forms(ref: str) -> None:
    with pytest.raises(ConfigurationError, match="Malformed secret reference") as info:
        parse_secret_ref(ref)
    assert "env:VARIABLE" in (info.value.hint or "")


def test_env_reference_resolves_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_PW", "pw-value")
    assert resolve_secret("env:EXCHANGE_PW", {"env": environment_resolver(os.environ)}) == (
        "pw-value"
    )


def test_missing_environment_variable_names_the_variable_not_a_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EXCHANGE_PW", raising=False)
    with pytest.raises(ConfigurationError, match="EXCHANGE_PW is not set"):
        resolve_secret("env:EXCHANGE_PW", {"env": environment_resolver(os.environ)})


def test_a_scheme_without_resolver_is_refused_with_advice() -> None:
    with pytest.raises(ConfigurationError, match="not available here"):
        resolve_secret("prefect-secret:acme", {"env": environment_resolver({})})
