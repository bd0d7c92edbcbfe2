"""`trainer-sync alerts add` refuses what cannot be a channel before it talks to Prefect: each
refusal says what was wrong and what to do (exit 2)."""

from __future__ import annotations

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

from trainer_sync.cli import app


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        ([], None, "Give exactly one of --webhook"),
        (["--webhook", "https://a.test/x", "--slack-webhook", "https://b.t"], None, "exactly one"),
        (["--webhook", "mail.acme.test/hook"], None, "is not a webhook URL"),
        (["--webhook", "-"], "javascript:alert(1)\n", "is not a webhook URL"),
        (["--slack-webhook", "https://evil.test/services/A/B/C"], None, "not a Slack"),
        (["--teams-webhook", "ftp://x"], None, "Microsoft Teams"),
        (["--email", "ops@acme.test"], None, "--sender and --sendgrid-key-stdin"),
        (["--email", "not-an-address", "--sender", "a@acme.test", "--sendgrid-key-stdin"],
         "key\n", "is not an email address"),
        (["--email", "ops@acme.test", "--sender", "a@acme.test", "--sendgrid-key-stdin"],
         "\n", "SendGrid API key is empty"),
        (["--webhook", "https://a.test/x", "--name", "Ops Team"], None, "not a usable alert"),
    ],
)  # fmt: skip
def test_a_channel_that_cannot_work_is_refused_with_the_fix(
    args: list[str], stdin: str | None, says: str
) -> None:
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):  # unreached
        result = CliRunner().invoke(app, ["alerts", "add", *args], input=stdin)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "What to do:" in result.output
    assert "Traceback" not in result.output


def test_without_a_prefect_server_the_commands_say_how_to_start_one() -> None:
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        result = CliRunner().invoke(app, ["alerts", "list"])
    assert result.exit_code == 2
    assert "does not answer" in result.output and "prefect server start" in result.output
