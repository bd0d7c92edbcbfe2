"""`trainer-sync service ...`: master accounts (one per Exchange service of a provider)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from secrets import token_hex

import typer
from sqlalchemy.orm import Session

from connectors.exchange.base import VerificationResult
from connectors.exchange.config import (
    DEFAULT_MAX_CONNECTIONS,
    MAX_CONNECTIONS_LIMIT,
    ServiceConfig,
    check_ca_bundle,
)
from connectors.platform import configuration, lifecycle
from connectors.platform.models import Service
from connectors.platform.parsing import shown as shown_text
from connectors.secrets import (
    is_own_prefect_secret,
    prefect_secret_for,
    rotated_prefect_secret_for,
)
from sync_rules.errors import ConfigurationError, TrainerSyncError
from trainer_sync.cli.context import store
from trainer_sync.cli.output import console, print_error, print_fields, print_json, print_table
from trainer_sync.cli.runtime import cli_resources

app = typer.Typer(help="Master accounts: Exchange services.", no_args_is_help=True)

SERVICE_COLUMNS = [
    "name",
    "provider",
    "backend",
    "endpoint",
    "username",
    "access_type",
    "auth_type",
    "secret_ref",
    "last_verified_at",
    "last_verification_ok",
    "last_verification_message",
    "secret_expires_on",
]


@app.command("add")
def add(
    provider: str = typer.Option(..., help="Provider name."),
    name: str = typer.Option(..., help="A name for this service."),
    endpoint: str = typer.Option(
        ...,
        help="EWS URL (https://mail.example.com/EWS/Exchange.asmx), or for graph the Graph base URL (https://graph.microsoft.com/v1.0)",
    ),
    username: str = typer.Option(..., help="The master account, e.g. master@example.com"),
    secret: str | None = typer.Option(
        None, help="Secret reference: env:VARIABLE or prefect-secret:BLOCK."
    ),
    secret_stdin: bool = typer.Option(
        False, "--secret-stdin", help="Read the secret from standard input into a Prefect Secret."
    ),
    backend: str = typer.Option(
        "ews", help="ews (Exchange Web Services) or graph (Microsoft Graph)."
    ),
    access: str = typer.Option("delegate", help="delegate or impersonation."),
    auth: str = typer.Option("basic", help="basic, ntlm or oauth2."),
    tenant: str | None = typer.Option(None, help="OAuth2 tenant id."),
    client_id: str | None = typer.Option(None, help="OAuth2 client (application) id."),
    authority_host: str | None = typer.Option(None, help="OAuth2 authority host."),
    server_version: str | None = typer.Option(None, help="Pin the server version, e.g. 15.2."),
    ca_bundle: str | None = typer.Option(None, help="CA bundle to verify the server with."),
    max_connections: int = typer.Option(
        DEFAULT_MAX_CONNECTIONS,
        help=f"Concurrent requests to this service (≤ {MAX_CONNECTIONS_LIMIT}).",
    ),
    verify: bool = typer.Option(
        True, "--verify/--no-verify", help="Sign in to the service before saving it."
    ),
) -> None:
    """Add a master account; it is verified before it is saved unless --no-verify."""
    if (secret is None) == (not secret_stdin):
        raise ConfigurationError(
            "Give exactly one of --secret REF and --secret-stdin.",
            "Use --secret env:VARIABLE, or --secret-stdin to type the secret "
            "into a Prefect Secret block.",
        )
    typed = prefect_secret_for(name) if secret_stdin else None
    config = ServiceConfig(
        name=name,
        endpoint=endpoint,
        username=username,
        secret_ref=secret if typed is None else str(typed),
        backend=backend,
        access_type=access,
        auth_type=auth,
        tenant_id=tenant,
        client_id=client_id,
        authority_host=authority_host,
        server_version=server_version,
        ca_bundle=ca_bundle,
        max_connections=max_connections,
    )
    check_ca_bundle(config)  # also with --no-verify: the first sync would fail on it
    with store() as session:
        configuration.check_new_service(session, provider, config)
    if typed is not None:
        from tasks.secrets import store_secret

        store_secret(typed, sys.stdin.readline().rstrip("\r\n"))
    # Sign in before anything is saved, outside any transaction: the store is not held
    # while Exchange answers.
    result = _verify(config) if verify else None
    if result is not None and not result.ok:
        if typed is not None:  # nothing of a refused service is kept, its secret included
            from tasks.secrets import delete_secret

            delete_secret(typed)
        raise ConfigurationError(
            f"Service {name!r} failed verification, so it was not saved: {result.message}",
            result.hint
            or "Correct the settings and run `trainer-sync service add` again, or use --no-verify.",
        )
    with store() as session:
        service = configuration.add_service(session, provider, config)
        if result is not None:
            _record(session, service, result)
    state = "verified" if verify else "not verified (--no-verify)"
    console.print(
        f"Added service {config.name!r} for {provider!r} ({config.username}, "
        f"{config.access_type}, secret {config.secret_ref}): {state}."
    )


def _verify(config: ServiceConfig) -> VerificationResult:
    """Sign in to the service now (failures are returned, never raised)."""
    with cli_resources() as resources:
        try:
            return resources.connector(config).verify_service()
        except TrainerSyncError as exc:  # e.g. its secret cannot be resolved
            return VerificationResult(False, config.name, exc.message, exc.hint)
        except Exception as exc:  # a failure the connector does not know: no dump, no traceback
            first_line = (str(exc).splitlines() or [""])[0][:300]
            return VerificationResult(
                False,
                config.name,
                f"signing in failed unexpectedly ({type(exc).__name__}: {first_line})",
                "Check the endpoint, username and auth type; if they are right, report this "
                "message.",
            )


def _record(session: Session, service: Service, result: VerificationResult) -> None:
    from connectors.platform.models import utcnow

    message = result.message + (f" {result.hint}" if result.hint and not result.ok else "")
    configuration.record_verification(session, service, result.ok, message, utcnow())


@app.command("verify")
def verify_command(name: str = typer.Argument(..., help="Service name.")) -> None:
    """Sign in to a service again and record the result and the time."""
    with store() as session:
        config = configuration.service_config(configuration.get_service(session, name))
    result = _verify(config)
    with store() as session:
        _record(session, configuration.get_service(session, name), result)
    if not result.ok:
        print_error(ConfigurationError(f"Service {name!r}: {result.message}", result.hint))
        raise typer.Exit(1)
    console.print(f"Service {name!r} verified: {result.message}")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List services (secret references only, never secrets)."""
    with store() as session:
        rows = [
            {
                "name": s.name,
                "provider": s.provider.name,
                "backend": s.backend,
                "endpoint": s.endpoint,
                "username": s.username,
                "access_type": s.access_type,
                "auth_type": s.auth_type,
                "secret_ref": s.secret_ref,
                "last_verified_at": s.last_verified_at,
                "last_verification_ok": s.last_verification_ok,
                "last_verification_message": s.last_verification_message,
                "secret_expires_on": s.secret_expires_on,
            }
            for s in configuration.list_services(session)
        ]
    if as_json:
        print_json(rows)
    else:
        print_table("Services", SERVICE_COLUMNS, rows)


def _show_row(service: Service) -> dict[str, object]:
    return {
        "name": service.name,
        "provider": service.provider.name,
        "backend": service.backend,
        "endpoint": service.endpoint,
        "username": service.username,
        "access_type": service.access_type,
        "auth_type": service.auth_type,
        "secret_ref": service.secret_ref,
        "tenant_id": service.tenant_id,
        "client_id": service.client_id,
        "authority_host": service.authority_host,
        "server_version": service.server_version,
        "verify_tls": service.verify_tls,
        "ca_bundle": service.ca_bundle,
        "max_connections": service.max_connections,
        "last_verified_at": service.last_verified_at,
        "last_verification_ok": service.last_verification_ok,
        "last_verification_message": service.last_verification_message,
        "secret_expires_on": service.secret_expires_on,
    }


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Service name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a service's settings, its last verification and its linked trainers."""
    with store() as session:
        service = configuration.get_service(session, name)
        data = {
            **_show_row(service),
            "linked_trainers": [t.email for t in lifecycle.service_trainers(session, service)],
        }
    if as_json:
        print_json(data)
    else:
        print_fields(f"Service {data['name']}", data)


def _cleared(value: str | None) -> str | None:
    """An option given as '' clears an optional setting."""
    return None if value == "" else value


@app.command("set")
def set_(
    name: str = typer.Argument(..., help="Service name."),
    endpoint: str | None = typer.Option(None, help="New EWS URL or Graph base URL."),
    username: str | None = typer.Option(None, help="New master account."),
    secret: str | None = typer.Option(
        None, help="Rotate the secret to this reference: env:VARIABLE or prefect-secret:BLOCK."
    ),
    secret_stdin: bool = typer.Option(
        False, "--secret-stdin", help="Rotate the secret: read it from standard input."
    ),
    access: str | None = typer.Option(None, help="delegate or impersonation."),
    auth: str | None = typer.Option(None, help="basic, ntlm or oauth2."),
    tenant: str | None = typer.Option(None, help="OAuth2 tenant id ('' clears it)."),
    client_id: str | None = typer.Option(None, help="OAuth2 client id ('' clears it)."),
    authority_host: str | None = typer.Option(None, help="OAuth2 authority host."),
    server_version: str | None = typer.Option(
        None, help="Pin the server version, e.g. 15.2 ('' to detect it)."
    ),
    verify_tls: bool | None = typer.Option(
        None, "--verify-tls/--no-verify-tls", help="Check the server's TLS certificate."
    ),
    ca_bundle: str | None = typer.Option(None, help="CA bundle to verify with ('' clears it)."),
    max_connections: int | None = typer.Option(
        None, help=f"Concurrent requests to this service (≤ {MAX_CONNECTIONS_LIMIT})."
    ),
    verify: bool = typer.Option(
        True, "--verify/--no-verify", help="Sign in with the new settings before saving them."
    ),
) -> None:
    """Change a service's settings or rotate its secret; verified before saving, as `add` is.

    Only the options given change; a refused change leaves the service as it was.
    """
    if secret is not None and secret_stdin:
        raise ConfigurationError(
            "Give at most one of --secret REF and --secret-stdin.",
            "Use --secret env:VARIABLE, or --secret-stdin to type the new secret.",
        )
    changes: dict[str, object] = {
        "endpoint": endpoint,
        "username": username,
        "secret_ref": secret,
        "access_type": access,
        "auth_type": auth,
        "authority_host": authority_host,
        "verify_tls": verify_tls,
        "max_connections": max_connections,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    for field, value in (
        ("tenant_id", tenant),
        ("client_id", client_id),
        ("server_version", server_version),
        ("ca_bundle", ca_bundle),
    ):
        if value is not None:
            changes[field] = _cleared(value)
    if not changes and not secret_stdin:
        raise ConfigurationError(
            f"Nothing to change for service {name!r}.",
            "Give the options to change; see `trainer-sync service set --help`.",
        )
    with store() as session:
        current = configuration.service_config(configuration.get_service(session, name))
    typed = None
    if secret_stdin:
        # Unique even for two rotations in one second: a refused one deletes its own block.
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "-" + token_hex(3)
        typed = rotated_prefect_secret_for(current.name, stamp)
        changes["secret_ref"] = str(typed)
    config = ServiceConfig(**{**current.model_dump(), **changes})
    with store() as session:  # the domain rule, before anything is stored or signed in to
        lifecycle.check_service_mailboxes(session, configuration.get_service(session, name), config)
    if typed is not None:
        from tasks.secrets import store_secret

        store_secret(typed, sys.stdin.readline().rstrip("\r\n"))
    result = _verify(config) if verify else None
    if result is not None and not result.ok:
        if typed is not None:
            from tasks.secrets import delete_secret

            delete_secret(typed)
        raise ConfigurationError(
            f"Service {current.name!r} failed verification with the new settings, so they were "
            f"not saved (it keeps its old ones): {result.message}",
            result.hint
            or "Correct the options and run `trainer-sync service set` again, or use --no-verify.",
        )
    with store() as session:
        service = configuration.get_service(session, name)
        lifecycle.update_service(session, service, config)
        if result is not None:
            _record(session, service, result)
    if current.secret_ref != config.secret_ref and is_own_prefect_secret(
        current.secret_ref, current.name
    ):
        _delete_old_block(current.secret_ref)
    state = "verified" if verify else "not verified (--no-verify)"
    console.print(
        f"Updated service {current.name!r} ({', '.join(sorted(changes))}): {state}.",
        markup=False,
        highlight=False,
    )


def _delete_old_block(ref: str) -> None:
    """The rotated-out block the product created: nothing uses it any more."""
    from connectors.secrets import parse_secret_ref
    from tasks.secrets import delete_secret

    try:
        delete_secret(parse_secret_ref(ref))
    except Exception:  # the new secret is saved; a leftover block harms nothing
        console.print(f"The old secret block {ref} could not be deleted; delete it in Prefect.")


@app.command("secret-expires")
def secret_expires(
    name: str = typer.Argument(..., help="Service name."),
    day: str = typer.Argument(
        ..., help="The day the secret stops working (YYYY-MM-DD), or 'never' to forget it."
    ),
) -> None:
    """Record when the service's secret expires (a Graph client secret's end date, from the
    app registration); the credential-expiring alert fires from 14 days before."""
    expires = None if day.strip().lower() == "never" else _expiry_day(day)
    with store() as session:
        service = configuration.get_service(session, name)
        service.secret_expires_on = expires
        shown = service.name
    when = f"expires on {expires:%Y-%m-%d}" if expires else "has no known expiry"
    console.print(f"The secret of service {shown!r} {when}.", markup=False, highlight=False)


def _expiry_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"{shown_text(text)} is not a day.",
            "Give the secret's end date as YYYY-MM-DD (e.g. 2027-06-30), or 'never'.",
        ) from None


@app.command("remove")
def remove(name: str = typer.Argument(..., help="Service name.")) -> None:
    """Remove a service; refused while trainers are linked to it."""
    with store() as session:
        service = configuration.get_service(session, name)
        removed, ref = service.name, service.secret_ref
        lifecycle.remove_service(session, service)
    if is_own_prefect_secret(ref, removed):
        _delete_old_block(ref)
    console.print(f"Removed service {removed!r}.", markup=False, highlight=False)
