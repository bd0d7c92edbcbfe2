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


class SecretUnavailable(ConfigurationError):
    """A secret reference that does not resolve in this process: a variable that is not set,
    a Secret block that does not exist. Says whose secret it is once that is known."""

    def __init__(self, ref: str, problem: str, hint: str, owner: str | None = None) -> None:
        whose = f" of {owner}" if owner else ""
        super().__init__(f"The secret {ref}{whose} is missing: {problem}.", hint)
        self.ref, self.problem = ref, problem

    def of(self, owner: str) -> SecretUnavailable:
        """The same failure, naming who needs the secret (e.g. "service 'acme-ews'")."""
        return SecretUnavailable(self.ref, self.problem, self.hint or "", owner)


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
            raise SecretUnavailable(
                f"env:{name}",
                f"the variable {name} is not set in this environment",
                f"Set it where trainer-sync runs (export {name}=...) and run again; for served "
                "and worker runs, in the environment of `trainer-sync serve` or of the worker.",
            )
        return value

    return resolve


def resolve_secret(
    ref: str | SecretRef, resolvers: Mapping[str, SecretResolver], owner: str | None = None
) -> str:
    """Return the secret's value. Call this only at connect time, and never log the result.

    `resolvers` maps each scheme to its resolver; the caller decides which it has (the
    orchestration layer adds `prefect-secret`). `owner` names who needs it in messages.
    """
    parsed = ref if isinstance(ref, SecretRef) else parse_secret_ref(ref)
    resolver = resolvers.get(parsed.scheme)
    if resolver is None:
        raise ConfigurationError(
            f"Cannot resolve {parsed}: {parsed.scheme} secrets are not available here.",
            "Use an env: reference, or run through trainer-sync's CLI or flows, which "
            "resolve Prefect Secret blocks.",
        )
    try:
        return resolver(parsed.name)
    except SecretUnavailable as exc:
        raise (exc.of(owner) if owner else exc) from None
