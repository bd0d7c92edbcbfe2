"""The fixed vocabulary of plan reasons and of the mass-deletion hold.

Each reason is explained, with the case that fires it, in docs/sync-semantics.md §Reasons.
"""

from __future__ import annotations

# platform -> Exchange (out)
NEW_IN_PLATFORM = "new_in_platform"  # O8 an entry without an item: create a tagged item
CHANGED_IN_PLATFORM = "changed_in_platform"  # O9 rendering differs from what was last written
TAMPERED_IN_EXCHANGE = "tampered_in_exchange"  # O11 the trainer edited a managed field
DELETED_IN_EXCHANGE = "deleted_in_exchange"  # O7 linked item gone: recreate
REMOVED_FROM_PLATFORM = "removed_from_platform"  # O4 entry gone / cancelled / unassigned
MOVED_OUT_OF_WINDOW = "moved_out_of_window"  # O3, O6 entry now outside the window: follow it
DUPLICATE = "duplicate"  # O5, I3 one key, several items (or mirrors): keep one

# Exchange -> platform (in)
NEW_IN_EXCHANGE = "new_in_exchange"  # I7 create an "Unavailable" mirror
CHANGED_IN_EXCHANGE = "changed_in_exchange"  # I8 times changed
REMOVED_FROM_EXCHANGE = "removed_from_exchange"  # I4 item gone, cancelled or out of the window
NOW_FREE = "now_free"  # I5 item shows as Free/Tentative and that does not block

# either side
DIRECTION_OFF = "direction_off"  # O1, I1 a side is off and the rule says remove its mirrors

ALL_REASONS = (
    NEW_IN_PLATFORM,
    CHANGED_IN_PLATFORM,
    TAMPERED_IN_EXCHANGE,
    DELETED_IN_EXCHANGE,
    REMOVED_FROM_PLATFORM,
    MOVED_OUT_OF_WINDOW,
    DUPLICATE,
    NEW_IN_EXCHANGE,
    CHANGED_IN_EXCHANGE,
    REMOVED_FROM_EXCHANGE,
    NOW_FREE,
    DIRECTION_OFF,
)

#: Each reason as an operator reads it in a run's list of changes: what happened, and what
#: the sync did about it.
EXPLAINED = {
    NEW_IN_PLATFORM: "new on the platform: added to Outlook",
    CHANGED_IN_PLATFORM: "changed on the platform: Outlook updated",
    TAMPERED_IN_EXCHANGE: "edited in Outlook: put back as the platform has it",
    DELETED_IN_EXCHANGE: "deleted in Outlook: created again",
    REMOVED_FROM_PLATFORM: "gone from the platform: removed from Outlook",
    MOVED_OUT_OF_WINDOW: "moved outside the sync window: followed",
    DUPLICATE: "a duplicate: removed",
    NEW_IN_EXCHANGE: "new in Outlook: blocked as Unavailable",
    CHANGED_IN_EXCHANGE: "moved in Outlook: the Unavailable block follows",
    REMOVED_FROM_EXCHANGE: "gone from Outlook: its Unavailable block removed",
    NOW_FREE: "free in Outlook now: its Unavailable block removed",
    DIRECTION_OFF: "this direction is off for the trainer: removed",
}

#: Prefix of `hold_reason` for rows held by the mass-deletion guard
#: (docs/sync-semantics.md §Mass-deletion guard).
MASS_DELETE_GUARD = "mass_delete_guard"
