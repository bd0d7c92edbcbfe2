"""A typed secret goes into a Prefect Secret block; only its reference reaches the database."""

from __future__ import annotations

from sqlalchemy import text

from connectors.platform import db
from tasks.resources import Resources
from tests.cli.conftest import Invoke, as_json, service_add


def test_secret_stdin_stores_a_block_and_never_the_secret(
    cli: Invoke, db_url: str, prefect_api: None
) -> None:
    assert cli("provider", "add", "Acme").exit_code == 0
    result = cli(
        *service_add(
            "Acme EWS", username="master@acme.test", secret=None, secret_stdin=True, no_verify=True
        ),
        input="s3cret-Pa55\n",
    )
    assert result.exit_code == 0, result.output
    assert "s3cret-Pa55" not in result.output
    (service,) = as_json(cli("service", "list", "--json"))
    assert service["secret_ref"] == "prefect-secret:trainer-sync-acme-ews"

    with db.get_engine(db_url).connect() as connection:
        dump = " ".join(str(row) for row in connection.execute(text("SELECT * FROM services")))
    assert "s3cret-Pa55" not in dump

    # Any process of the product resolves it, with nothing installed beforehand.
    resources = Resources.from_environment(environ={})
    block = service["secret_ref"].removeprefix("prefect-secret:")
    assert resources.secrets["prefect-secret"](block) == "s3cret-Pa55"


def test_secret_needs_exactly_one_source(cli: Invoke) -> None:
    cli("provider", "add", "Acme")
    result = cli(*service_add("s", secret=None))
    assert result.exit_code == 2
    assert "exactly one of --secret REF and --secret-stdin" in result.stderr
