"""Every configured object can be shown, changed and retired, and refusals write nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from connectors.platform import db
from connectors.platform.models import ItemLink, TrainerCursor, Unavailability
from tests.cli.conftest import Invoke, as_json, service_add


def _state(cli: Invoke) -> tuple:
    return (
        as_json(cli("provider", "list", "--json")),
        as_json(cli("service", "list", "--json")),
        as_json(cli("trainer", "list", "--json")),
        as_json(cli("unavailability", "list", "--json")),
    )


def _refused(cli: Invoke, *args: str, message: str, hint: str) -> None:
    before = _state(cli)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert "What to do:" in result.stderr and hint in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert _state(cli) == before


def _ok(cli: Invoke, *args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


# --- providers ---------------------------------------------------------------------------------


def test_provider_show_rename_and_set(configured: Invoke) -> None:
    shown = as_json(configured("provider", "show", "Acme", "--json"))
    assert shown["services"] == ["acme-ews"]
    assert (shown["trainers"], shown["linked_trainers"]) == (2, 1)
    assert "acme-ews" in _ok(configured, "provider", "show", "acme")  # any case finds it

    _ok(configured, "provider", "rename", "Acme", "Acme Training")
    _ok(configured, "provider", "set", "Acme Training", "--no-sync-engine", "--timezone", "UTC")
    (provider,) = as_json(configured("provider", "list", "--json"))
    assert provider == {"name": "Acme Training", "sync_engine_enabled": False, "timezone": "UTC"}
    assert as_json(configured("trainer", "list", "--json"))[0]["provider"] == "Acme Training"
    rules = as_json(configured("provider", "rules", "Acme Training", "--json"))
    assert rules["timezone"] == "UTC"  # whole days begin where the calendar is shown


PROVIDER_REFUSALS = [
    (("provider", "add", "ACME"), "Provider 'ACME' already exists (as 'Acme')", "whatever"),
    (("provider", "set", "Acme", "--timezone", "Mars/Olympus"), "Unknown time zone", "IANA"),
    (("provider", "set", "Acme"), "Nothing to change", "--timezone"),
    (("provider", "show", "Nope"), "Unknown provider 'Nope'", "provider list"),
]


def test_provider_changes_refused(configured: Invoke) -> None:
    for args, message, hint in PROVIDER_REFUSALS:
        _refused(configured, *args, message=message, hint=hint)


def test_provider_names_are_unique_whatever_their_case(configured: Invoke) -> None:
    _ok(configured, "provider", "add", "Other")
    _refused(
        configured,
        *("provider", "rename", "Other", "acme"),
        message="Provider 'acme' already exists (as 'Acme')",
        hint="unique whatever their case",
    )
    _ok(configured, "provider", "rename", "Other", "OTHER")  # its own name in another case


def test_the_database_refuses_names_differing_only_in_case(configured: Invoke, db_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), db.get_engine(db_url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO providers (name, sync_engine_enabled, timezone, created_at) "
                "VALUES ('ACME', false, 'UTC', '2026-01-01')"
            )
        )


def test_provider_remove_is_refused_while_trainers_are_linked(configured: Invoke) -> None:
    _refused(
        configured,
        *("provider", "remove", "Acme"),
        message="still has 1 linked trainer(s): ann@acme.test",
        hint="items the engine put in the trainers' Outlook calendars are left there",
    )


def test_provider_remove_force_deletes_the_platform_side(configured: Invoke, db_url: str) -> None:
    _ok(configured, "provider", "add", "Other")
    with db.get_engine(db_url).begin() as connection:
        ann = connection.scalar(text("SELECT id FROM trainers WHERE email = 'ann@acme.test'"))
        connection.execute(
            Unavailability.__table__.insert().values(
                trainer_id=ann,
                start=pd_time("2026-03-02T09:00"),
                end=pd_time("2026-03-02T10:00"),
                origin="exchange",
                source_item_id="AAMk-1",
            )
        )
    out = _ok(configured, "provider", "remove", "Acme", "--force")
    assert "2 trainer(s) (1 linked)" in out and "1 inbound" in out and "left in place" in out
    assert [p["name"] for p in as_json(configured("provider", "list", "--json"))] == ["Other"]
    assert as_json(configured("service", "list", "--json")) == []
    assert as_json(configured("trainer", "list", "--json")) == []
    with db.get_engine(db_url).connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Unavailability)) == 0


def test_an_unlinked_provider_is_removed_without_force(configured: Invoke) -> None:
    _ok(configured, "trainer", "unlink", "ann@acme.test")
    assert "Removed provider 'Acme'" in _ok(configured, "provider", "remove", "Acme")
    assert as_json(configured("provider", "list", "--json")) == []


def pd_time(text_: str):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


# --- services ----------------------------------------------------------------------------------


def test_service_show_and_set_without_verification(configured: Invoke) -> None:
    shown = as_json(configured("service", "show", "acme-ews", "--json"))
    assert shown["linked_trainers"] == ["ann@acme.test"] and shown["verify_tls"] is True
    _ok(
        configured,
        *("service", "set", "ACME-EWS", "--endpoint", "https://mail2.acme.test/EWS/Exchange.asmx"),
        *("--secret", "env:ROTATED", "--max-connections", "2", "--no-verify-tls", "--no-verify"),
    )
    shown = as_json(configured("service", "show", "acme-ews", "--json"))
    assert shown["endpoint"] == "https://mail2.acme.test/EWS/Exchange.asmx"
    assert (shown["secret_ref"], shown["max_connections"], shown["verify_tls"]) == (
        "env:ROTATED",
        2,
        False,
    )


def test_service_set_verifies_before_saving(configured: Invoke) -> None:
    # The new secret's variable is not set: verification fails, and nothing changes.
    _refused(
        configured,
        *("service", "set", "acme-ews", "--secret", "env:NOT_SET_ANYWHERE"),
        message="failed verification with the new settings, so they were not saved",
        hint="NOT_SET_ANYWHERE",
    )


SERVICE_REFUSALS = [
    (
        ("service", "set", "acme-ews", "--username", "m@other.test", "--no-verify"),
        "Mailbox 'ann@acme.test' is in domain 'acme.test'",
        "master account's domain",
    ),
    (
        ("service", "set", "acme-ews", "--access", "owner", "--no-verify"),
        "Unknown access type 'owner'",
        "delegate, impersonation",
    ),
    (("service", "set", "acme-ews"), "Nothing to change", "service set --help"),
    (
        ("service", "remove", "acme-ews"),
        "still has 1 linked trainer(s): ann@acme.test",
        "trainer-sync trainer unlink",
    ),
    (
        service_add("ACME-EWS", no_verify=True),
        "Service 'ACME-EWS' already exists (as 'acme-ews')",
        "whatever their case",
    ),
]


def test_service_changes_refused(configured: Invoke) -> None:
    for args, message, hint in SERVICE_REFUSALS:
        _refused(configured, *args, message=message, hint=hint)


def test_an_unused_service_is_removed(configured: Invoke) -> None:
    _ok(configured, *service_add("spare", no_verify=True))
    assert "Removed service 'spare'" in _ok(configured, "service", "remove", "spare")
    assert [s["name"] for s in as_json(configured("service", "list", "--json"))] == ["acme-ews"]


# --- trainers ----------------------------------------------------------------------------------


def _seed_sync_state(db_url: str, email: str) -> None:
    with db.get_engine(db_url).begin() as connection:
        trainer = connection.scalar(text("SELECT id FROM trainers WHERE email = :e"), {"e": email})
        connection.execute(
            ItemLink.__table__.insert().values(
                trainer_id=trainer, entry_key="session:1", item_id="AAMk-1", content_hash="h"
            )
        )
        connection.execute(
            TrainerCursor.__table__.insert().values(trainer_id=trainer, exchange_sync_state="s")
        )


def _sync_state(db_url: str) -> tuple[int, int]:
    with db.get_engine(db_url).connect() as connection:
        return (
            connection.scalar(select(func.count()).select_from(ItemLink)) or 0,
            connection.scalar(select(func.count()).select_from(TrainerCursor)) or 0,
        )


def test_trainer_show_and_set(configured: Invoke, db_url: str) -> None:
    _seed_sync_state(db_url, "ann@acme.test")
    shown = as_json(configured("trainer", "show", "ann@acme.test", "--json"))
    assert (shown["service"], shown["items_in_outlook"], shown["last_sync"]) == (
        "acme-ews",
        1,
        "never synced",
    )
    _ok(configured, "trainer", "set", "ann@acme.test", "--name", "Ann Smith")
    assert _sync_state(db_url) == (1, 1)  # a new name moves nothing
    _ok(configured, "trainer", "set", "ann@acme.test", "--mailbox", "ann.smith@acme.test")
    shown = as_json(configured("trainer", "show", "ann@acme.test", "--json"))
    assert (shown["name"], shown["mailbox"]) == ("Ann Smith", "ann.smith@acme.test")
    # The old mailbox's item ids mean nothing in the new one: the next sync finds (by tag) or
    # writes the same entries there.
    assert _sync_state(db_url) == (0, 0)
    _ok(configured, "trainer", "set", "bob@acme.test", "--email", "robert@acme.test")
    emails = [t["email"] for t in as_json(configured("trainer", "list", "--json"))]
    assert emails == ["ann@acme.test", "robert@acme.test"]


def test_moving_a_trainer_to_another_service_keeps_its_item_links(
    configured: Invoke, db_url: str
) -> None:
    _ok(configured, *service_add("acme-graph", username="master@acme.test", no_verify=True))
    _seed_sync_state(db_url, "ann@acme.test")
    _ok(
        configured,
        "trainer",
        "link",
        "ann@acme.test",
        "--service",
        "acme-graph",
        "--direction",
        "out",
    )
    assert _sync_state(db_url) == (1, 0)  # same mailbox: the items stay its own


TRAINER_REFUSALS = [
    (
        ("trainer", "set", "bob@acme.test", "--mailbox", "b@acme.test"),
        "is not linked, so it has no mailbox",
        "trainer-sync trainer link",
    ),
    (
        ("trainer", "set", "bob@acme.test", "--email", "ANN@acme.test"),
        "already has a trainer with email 'ann@acme.test'",
        "choose another",
    ),
    (
        ("trainer", "set", "ann@acme.test", "--mailbox", "ann@other.test"),
        "domain 'other.test'",
        "master account's domain",
    ),
    (
        ("trainer", "remove", "ann@acme.test"),
        "is linked to service 'acme-ews'",
        "trainer-sync trainer unlink ann@acme.test",
    ),
    (("trainer", "set", "ann@acme.test"), "Nothing to change", "--mailbox"),
]


def test_trainer_changes_refused(configured: Invoke) -> None:
    for args, message, hint in TRAINER_REFUSALS:
        _refused(configured, *args, message=message, hint=hint)


def test_an_unlinked_trainer_is_removed(configured: Invoke) -> None:
    assert "Removed trainer Bob" in _ok(configured, "trainer", "remove", "bob@acme.test")
    assert [t["email"] for t in as_json(configured("trainer", "list", "--json"))] == [
        "ann@acme.test"
    ]


# --- the same email in two providers ------------------------------------------------------------


@pytest.fixture
def two_providers(configured: Invoke) -> Invoke:
    """ann@acme.test is a trainer of Acme (linked) and of Beta (not linked)."""
    _ok(configured, "provider", "add", "Beta")
    _ok(configured, *service_add("beta-ews", provider="Beta", no_verify=True))
    _ok(
        configured,
        "trainer",
        "add",
        "--provider",
        "Beta",
        "--name",
        "Ann B",
        "--email",
        "ann@acme.test",
    )
    return configured


AMBIGUOUS = [
    ("calendar", "--trainer", "ann@acme.test", "--json"),
    ("history", "--trainer", "ann@acme.test", "--json"),
    ("unavailability", "list", "--trainer", "ann@acme.test", "--json"),
    ("trainer", "show", "ann@acme.test", "--json"),
    ("trainer", "unlink", "ann@acme.test"),
    ("trainer", "set", "ann@acme.test", "--name", "X"),
    ("trainer", "remove", "ann@acme.test"),
]


def test_an_email_in_two_providers_needs_provider(two_providers: Invoke) -> None:
    for args in AMBIGUOUS:
        _refused(
            two_providers,
            *args,
            message="several providers ('Acme', 'Beta')",
            hint="--provider NAME",
        )
        linked_in_acme = args[:2] == ("trainer", "unlink")
        result = two_providers(*args, "--provider", "Acme" if linked_in_acme else "Beta")
        assert result.exit_code == 0, (args, result.output)


def test_provider_picks_the_trainer_everywhere(two_providers: Invoke) -> None:
    _ok(
        two_providers, "trainer", "set", "ann@acme.test", "--provider", "beta", "--name", "Ann Beta"
    )
    _ok(
        two_providers,
        *("trainer", "link", "ann@acme.test", "--provider", "Beta"),
        *("--service", "beta-ews", "--direction", "in"),
    )
    _ok(
        two_providers,
        *("unavailability", "add", "--trainer", "ann@acme.test", "--provider", "Beta"),
        *("--start", "2026-03-05", "--end", "2026-03-06", "--all-day"),
    )
    trainers = {
        (t["provider"], t["email"]): t for t in as_json(two_providers("trainer", "list", "--json"))
    }
    assert trainers["Beta", "ann@acme.test"]["name"] == "Ann Beta"
    assert trainers["Beta", "ann@acme.test"]["service"] == "beta-ews"
    assert trainers["Acme", "ann@acme.test"]["name"] == "Ann"
    assert trainers["Acme", "ann@acme.test"]["service"] == "acme-ews"
    (row,) = as_json(two_providers("unavailability", "list", "--json"))
    assert row["provider"] == "Beta"
    _refused(
        two_providers,
        *("trainer", "link", "ann@acme.test", "--provider", "Acme"),
        *("--service", "beta-ews", "--direction", "in"),
        message="belongs to provider 'Beta', not 'Acme'",
        hint="service list",
    )


# --- unavailability ----------------------------------------------------------------------------


def test_unavailability_list_remove_and_duplicates(configured: Invoke) -> None:
    add = ("unavailability", "add", "--trainer", "ann@acme.test", "--reason", "Dentist")
    period = ("--start", "2026-03-09T09:30:00+00:00", "--end", "2026-03-09T12:00:00+00:00")
    _ok(configured, *add, *period)
    (row,) = as_json(configured("unavailability", "list", "--json"))
    assert (row["trainer"], row["origin"], row["reason"]) == (
        "ann@acme.test",
        "platform",
        "Dentist",
    )
    _refused(
        configured,
        *add,
        *period,
        message="already unavailable from 2026-03-09T09:30:00+00:00",
        hint=f"unavailability remove {row['id']}",
    )
    _ok(configured, "unavailability", "remove", str(row["id"]))
    assert as_json(configured("unavailability", "list", "--json")) == []
    _refused(
        configured,
        *("unavailability", "remove", str(row["id"])),
        message=f"Unknown unavailability:{row['id']}",
        hint="unavailability list",
    )


def test_an_outlook_mirror_cannot_be_removed_in_the_platform(
    configured: Invoke, db_url: str
) -> None:
    with db.get_engine(db_url).begin() as connection:
        ann = connection.scalar(text("SELECT id FROM trainers WHERE email = 'ann@acme.test'"))
        connection.execute(
            Unavailability.__table__.insert().values(
                trainer_id=ann,
                start=pd_time("2026-03-02T09:00"),
                end=pd_time("2026-03-02T10:00"),
                origin="exchange",
                source_item_id="AAMk-1",
            )
        )
    (row,) = as_json(configured("unavailability", "list", "--json"))
    _refused(
        configured,
        *("unavailability", "remove", str(row["id"])),
        message="mirrors an appointment in the trainer's Outlook calendar",
        hint="trainer-sync trainer link",
    )
