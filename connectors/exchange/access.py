"""The part of `check_access` both backends share: what a direction needs, and the checks of
direction and address that are decided without asking Exchange."""

from __future__ import annotations

from connectors.exchange.base import AccessProblem, AccessResult
from sync_rules.vocabulary import DIRECTIONS

# Rights on the trainer's calendar that each direction needs.
NEEDED_RIGHTS = {
    "in": ("read",),
    "out": ("read", "create", "modify", "delete"),
    "both": ("read", "create", "modify", "delete"),
}


def access_result(
    mailbox: str, direction: str, *problems: AccessProblem, rights: tuple[str, ...] = ()
) -> AccessResult:
    """The result of an access check: ok exactly when there is no problem."""
    return AccessResult(mailbox, direction, not problems, tuple(problems), rights)


def refused_before_asking(
    mailbox: str,
    direction: str,
    *,
    account: str,
    account_domain: str | None,
    domain_owner: str,
) -> AccessResult | None:
    """The failed result for an unknown direction, a malformed address or a mailbox outside the
    domain of the service's account; None when the check must go on with Exchange.

    `account` names that account in messages (e.g. "master account master@contoso.test"), and
    `domain_owner` whose domain the trainers' must be (e.g. "the master account's").
    """
    if direction not in DIRECTIONS:
        return access_result(
            mailbox,
            direction,
            AccessProblem(
                "invalid_direction", f"Direction {direction!r} is not one of in, out, both."
            ),
        )
    local, at, domain = mailbox.rpartition("@")
    if not at or not local or not domain:
        return access_result(
            mailbox,
            direction,
            AccessProblem("invalid_address", f"{mailbox!r} is not a mailbox address."),
        )
    if account_domain and domain.lower() != account_domain:
        return access_result(
            mailbox,
            direction,
            AccessProblem(
                "domain_mismatch",
                f"The mailbox {mailbox} is in domain {domain.lower()}, but the {account} is in "
                f"domain {account_domain}; trainers' mailboxes must be in {domain_owner} domain. "
                "Correct the address with `trainer-sync trainer set EMAIL --mailbox ADDRESS`, or "
                "link the trainer to a service of that domain with `trainer-sync trainer link`.",
            ),
        )
    return None
