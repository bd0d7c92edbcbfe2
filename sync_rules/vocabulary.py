"""The words the whole product shares, each defined once: as a `Literal` type for the type
checker and as a tuple for checks at run time (schemas, CHECK constraints, input parsing)."""

from __future__ import annotations

from typing import Literal, get_args

Direction = Literal["in", "out", "both"]
#: How an Outlook item shows its time; `NoData` is read from Exchange, never written.
ShowAs = Literal["Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData"]
WritableShowAs = Literal["Free", "Tentative", "Busy", "OOF", "WorkingElsewhere"]
DeleteMode = Literal["move_to_deleted_items", "soft_delete", "hard_delete"]
Kind = Literal["session", "unavailability"]
Origin = Literal["platform", "exchange"]
Side = Literal["exchange", "platform"]
Action = Literal["create", "update", "delete"]

DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
SHOW_AS: tuple[ShowAs, ...] = get_args(ShowAs)
DELETE_MODES: tuple[DeleteMode, ...] = get_args(DeleteMode)
KINDS: tuple[Kind, ...] = get_args(Kind)
ORIGINS: tuple[Origin, ...] = get_args(Origin)
SIDES: tuple[Side, ...] = get_args(Side)
ACTIONS: tuple[Action, ...] = get_args(Action)

#: The Outlook fields the engine manages on its items, in hash order.
MANAGED_FIELDS = (
    "subject",
    "body",
    "location",
    "start",
    "end",
    "all_day",
    "show_as",
    "categories",
    "reminder_minutes",
)
