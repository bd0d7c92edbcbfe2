"""`service set --secret-stdin` rotates a secret into a fresh block, verified before it is used."""

from __future__ import annotations

import pytest

from tasks.resources import Resources
from tests.cli.conftest import Invoke, as_json, service_add


def _block(ref: str) -> str:
    return ref.removeprefix("prefect-secret:")


def test_a_rotated_secret_replaces_the_old_block(cli: Invoke, prefect_api: None) -> None:
    assert cli("provider", "add", "Acme").exit_code == 0
    added = cli(
        *service_add("rot", username="master@acme.test", secret=None, secret_stdin=True),
        "--no-verify",
        input="old-Pa55\n",
    )
    assert added.exit_code == 0, added.output
    old_ref = as_json(cli("service", "show", "rot", "--json"))["secret_ref"]

    rotated = cli("service", "set", "rot", "--secret-stdin", "--no-verify", input="new-Pa55\n")
    assert rotated.exit_code == 0, rotated.output
    assert "new-Pa55" not in rotated.output
    new_ref = as_json(cli("service", "show", "rot", "--json"))["secret_ref"]
    assert new_ref != old_ref and new_ref.startswith(old_ref + "-")
    resolve = Resources.from_environment(environ={}).secrets["prefect-secret"]
    assert resolve(_block(new_ref)) == "new-Pa55"
    with pytest.raises(Exception, match="does not exist"):
        resolve(_block(old_ref))  # the rotated-out block is gone

    # A secret that fails verification is not kept, and the service keeps its working one.
    refused = cli(
        *("service", "set", "rot", "--secret-stdin", "--endpoint", "https://127.0.0.1:9/EWS/x"),
        input="bad-Pa55\n",
    )
    assert refused.exit_code == 2, refused.output
    assert "so they were not saved" in refused.stderr
    assert as_json(cli("service", "show", "rot", "--json"))["secret_ref"] == new_ref
    assert resolve(_block(new_ref)) == "new-Pa55"
