"""Secret references: how a service names its password or client secret without holding it.

A reference is `env:VARIABLE` (read from the process environment) or `prefect-secret:BLOCK`
(a Prefect Secret block). Only the reference is stored; the value is resolved when
connecting and never logged, printed or passed as a flow parameter.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sync_rules.errors import ConfigurationError

SCHEMES = ("env", "prefect-secret")
_NAMES = {
    "env": re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$"),
    # Prefect block names: lowercase letters, digits and dashes.
    "prefect-secret": re.compile(r"^[a-z0-9][a-z0-9-]*$"),
}

SecretResolver = Callable[[str], str]


@dataclass(frozen=True)
class SecretRef:
    """A parsed reference such as `env:EXCHANGE_PASSWORD`."""

    scheme: str
    name: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.name}"


def parse_secret_ref(text: str) -> SecretRef:
    """Parse and check a secret reference; raise ConfigurationError naming the problem."""
    scheme, sep, name = text.partition(":")
    hint = (
        "Use env:VARIABLE (an environment variable holding the secret) or "
        "prefect-secret:BLOCK (a Prefect Secret block; `service add --secret-stdin` creates one)."
    )
    if not sep or scheme not in SCHEMES:
        raise ConfigurationError(f"Malformed secret reference {text!r}: unknown scheme.", hint)
    if not _NAMES[scheme].match(name):
        raise ConfigurationError(
            f"Malformed secret reference {text!r}: {name!r} is not a valid {scheme} name.", hint
        )
    return SecretRef(scheme, name)


def _from_environment(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigurationError(
            f"The secret environment variable {name} is not set.",
            f"Export {name} in the environment that runs trainer-sync.",
        )
    return value


_resolvers: dict[str, SecretResolver] = {"env": _from_environment}


def register_resolver(scheme: str, resolver: SecretResolver) -> None:
    """Install the resolver for a scheme (the Prefect layer installs `prefect-secret`)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown secret scheme {scheme!r}")
    _resolvers[scheme] = resolver


def resolve_secret(
    ref: str | SecretRef, resolvers: Mapping[str, SecretResolver] | None = None
) -> str:
    """Return the secret's value. Call this only at connect time, and never log the result."""
    parsed = ref if isinstance(ref, SecretRef) else parse_secret_ref(ref)
    table = {**_resolvers, **(resolvers or {})}
    resolver = table.get(parsed.scheme)
    if resolver is None:
        raise ConfigurationError(
            f"Cannot resolve {parsed}: no resolver for {parsed.scheme} secrets is installed.",
            "Run through the trainer-sync CLI or flows, which install the Prefect secret resolver.",
        )
    return resolver(parsed.name)
