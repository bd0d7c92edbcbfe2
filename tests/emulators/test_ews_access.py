"""Who may do what on the EWS emulator, observed through exchangelib."""

from __future__ import annotations

import time

import pytest
from exchangelib import IMPERSONATION
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorImpersonateUserDenied,
    ErrorNameResolutionNoResults,
    ErrorNonExistentMailbox,
    UnauthorizedError,
)

from .conftest import MASTER, TRAINER, TRAINER_PW, account, event


def test_version_probe_without_pinned_version(org):
    acc = account(org, version=None)
    assert acc.version.build.major_version == 15
    assert acc.version.build.minor_version == 2
    assert org.control.counters()["by_operation"]["ConvertId"] >= 1


def test_pinned_version_sends_no_probe(org):
    acc = account(org)
    assert acc.calendar.name == "Calendar"
    assert "ConvertId" not in org.control.counters()["by_operation"]


def test_delegate_editor_can_write_and_rights_are_reported(org):
    acc = account(org)
    rights = acc.calendar.effective_rights
    assert (rights.read, rights.modify, rights.delete, rights.create_contents) == (
        True,
        True,
        True,
        True,
    )
    event(acc).save()
    assert [i["subject"] for i in org.control.items(TRAINER)] == ["Session"]


def test_reviewer_can_read_but_not_write(org):
    org.control.grant(owner=TRAINER, grantee=MASTER, kind="delegate", calendar_role="Reviewer")
    event(account(org, user=TRAINER, password=TRAINER_PW), "Own").save()
    acc = account(org)
    assert acc.calendar.effective_rights.modify is False
    assert [i.subject for i in acc.calendar.all()] == ["Own"]
    with pytest.raises(ErrorAccessDenied):
        event(acc).save()
    assert len(org.control.items(TRAINER)) == 1


def test_role_none_and_no_grant_are_denied(org):
    org.control.add_account("trainer2@contoso.test", "pw2")
    with pytest.raises(ErrorAccessDenied):
        account(org, mailbox="trainer2@contoso.test").calendar  # noqa: B018
    org.control.grant(owner=TRAINER, grantee=MASTER, kind="delegate", calendar_role="None")
    with pytest.raises(ErrorAccessDenied):
        account(org).calendar  # noqa: B018


def test_unknown_mailbox(org):
    with pytest.raises(ErrorNonExistentMailbox):
        account(org, mailbox="ghost@contoso.test").calendar  # noqa: B018
    acc = account(org)
    # One name a request: the schema's ResolveNames has one UnresolvedEntry.
    (found,) = acc.protocol.resolve_names([TRAINER])
    assert found.email_address == TRAINER
    (missing,) = acc.protocol.resolve_names(["ghost@contoso.test"])
    assert isinstance(missing, ErrorNameResolutionNoResults)


def test_wrong_password_is_refused_fast(org):
    started = time.monotonic()
    with pytest.raises(UnauthorizedError):
        account(org, password="wrong").calendar  # noqa: B018
    assert time.monotonic() - started < 2


def test_impersonation_needs_an_impersonation_grant(org):
    with pytest.raises(ErrorImpersonateUserDenied):
        account(org, access_type=IMPERSONATION).calendar  # noqa: B018
    org.control.grant(owner=TRAINER, grantee=MASTER, kind="impersonation")
    acc = account(org, access_type=IMPERSONATION)
    event(acc, "Impersonated").save()
    assert acc.calendar.effective_rights.modify is True
    assert [i["subject"] for i in org.control.items(TRAINER)] == ["Impersonated"]


def test_owner_has_full_access(org):
    acc = account(org, user=TRAINER, password=TRAINER_PW)
    rights = acc.calendar.effective_rights
    assert rights.view_private_items and rights.create_hierarchy
    item = event(acc)
    item.save()
    item.delete()
    assert org.control.items(TRAINER) == []


def test_counters_by_account_mailbox_and_operation(org):
    org.control.reset_counters()
    acc = account(org)
    event(acc).save()
    list(acc.calendar.all())
    report = org.control.counters()
    assert report["by_account"] == {MASTER: report["total"]}
    assert report["by_mailbox"] == {TRAINER: report["total"]}
    assert report["by_operation"]["CreateItem"] == 1
    assert report["by_operation"]["FindItem"] == 1
    org.control.reset_counters()
    assert org.control.counters()["total"] == 0


def test_a_mailbox_owner_reads_its_delegates_and_their_calendar_role(org):
    from exchangelib.errors import ErrorAccessDenied, ErrorNotDelegate
    from exchangelib.services import GetDelegate

    own = account(org, user=TRAINER, password=TRAINER_PW)
    (delegate,) = own.delegates
    assert delegate.user_id.primary_smtp_address == MASTER
    assert delegate.delegate_permissions.calendar_folder_permission_level == "Editor"
    assert delegate.delegate_permissions.inbox_folder_permission_level == "None"
    org.control.grant(owner=TRAINER, grantee=MASTER, kind="delegate", calendar_role="Reviewer")
    (delegate,) = own.delegates
    assert delegate.delegate_permissions.calendar_folder_permission_level == "Reviewer"
    with pytest.raises(ErrorAccessDenied):
        account(org).delegates  # noqa: B018 - the master, a delegate, may not read them
    with pytest.raises(ErrorNotDelegate):
        list(GetDelegate(account=own).call(user_ids=[TRAINER], include_permissions=False))


def test_a_mailbox_without_delegates_has_none(org):
    assert account(org, mailbox=MASTER).delegates == []
