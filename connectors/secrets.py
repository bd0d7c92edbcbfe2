"""Secret references: how a service names its password or client secret without holding it.

A reference is `env:VARIABLE` (read from the process environment) or `prefect-secret:BLOCK`
(a Prefect Secret block). Only the reference is stored; the value is resolved when
connecting and never logged, printed or passed as a flow parameter.
"""

from __future__ import annotations

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


def prefect_secret_for(service_name: str) -> SecretRef:
    """The Prefect Secret block that `service add --secret-stdin` keeps a service's secret in."""
    slug = re.sub(r"[^a-z0-9]+", "-", service_name.lower()).strip("-")
    return SecretRef("prefect-secret", f"trainer-sync-{slug or 'service'}")


def rotated_prefect_secret_for(service_name: str, stamp: str) -> SecretRef:
    """A fresh block for a rotated secret (`service set --secret-stdin`): the service's current
    block keeps working until the new secret has been verified and saved."""
    return SecretRef("prefect-secret", f"{prefect_secret_for(service_name).name}-{stamp}")


def is_own_prefect_secret(ref: str, service_name: str) -> bool:
    """Whether `ref` is a block this product created for the service (safe to delete when the
    service no longer uses it); blocks an administrator named are never deleted."""
    own = str(prefect_secret_for(service_name))
    return ref == own or ref.startswith(own + "-")


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


def environment_resolver(environ: Mapping[str, str]) -> SecretResolver:
    """Resolves `env:` references from `environ` (the process environment, as a rule)."""

    def resolve(name: str) -> str:
        value = environ.get(name)
        if not value:
            raise ConfigurationError(
                f"The secret environment variable {name} is not set.",
                f"Export {name} in the environment that runs trainer-sync "
                "(for served and worker runs: the environment of `trainer-sync serve` or of "
                "the worker).",
            )
        return value

    return resolve


def resolve_secret(ref: str | SecretRef, resolvers: Mapping[str, SecretResolver]) -> str:
    """Return the secret's value. Call this only at connect time, and never log the result.

    `resolvers` maps each scheme to its resolver; the caller decides which it has (the
    orchestration layer adds `prefect-secret`).
    """
    parsed = ref if isinstance(ref, SecretRef) else parse_secret_ref(ref)
    resolver = resolvers.get(parsed.scheme)
    if resolver is None:
        raise ConfigurationError(
            f"Cannot resolve {parsed}: {parsed.scheme} secrets are not available here.",
            "Use an env: reference, or run through trainer-sync's CLI or flows, which "
            "resolve Prefect Secret blocks.",
        )
    return resolver(parsed.name)
