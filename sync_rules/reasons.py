"""The fixed vocabulary of plan reasons (DESIGN §3) and of the mass-deletion hold."""

from __future__ import annotations

# platform -> Exchange (out)
NEW_IN_PLATFORM = "new_in_platform"  # §3.1 create a tagged item
CHANGED_IN_PLATFORM = "changed_in_platform"  # §3.2 rendering differs from what was last written
TAMPERED_IN_EXCHANGE = "tampered_in_exchange"  # §3.2 the trainer edited a managed field
DELETED_IN_EXCHANGE = "deleted_in_exchange"  # §3.3 linked item gone: recreate
REMOVED_FROM_PLATFORM = "removed_from_platform"  # §3.4 entry gone / cancelled / unassigned
DUPLICATE = "duplicate"  # §3.5 one key, several items (or mirrors): keep one

# Exchange -> platform (in)
NEW_IN_EXCHANGE = "new_in_exchange"  # §3.6 create an "Unavailable" mirror
CHANGED_IN_EXCHANGE = "changed_in_exchange"  # §3.7 times changed
REMOVED_FROM_EXCHANGE = "removed_from_exchange"  # §3.8 item gone or cancelled
NOW_FREE = "now_free"  # §3.8 item shows as Free/Tentative and that does not block

# either side
DIRECTION_OFF = "direction_off"  # mirror cleanup when a direction is off and the rule says remove

ALL_REASONS = (
    NEW_IN_PLATFORM,
    CHANGED_IN_PLATFORM,
    TAMPERED_IN_EXCHANGE,
    DELETED_IN_EXCHANGE,
    REMOVED_FROM_PLATFORM,
    DUPLICATE,
    NEW_IN_EXCHANGE,
    CHANGED_IN_EXCHANGE,
    REMOVED_FROM_EXCHANGE,
    NOW_FREE,
    DIRECTION_OFF,
)

#: Prefix of `hold_reason` for rows held by the mass-deletion guard.
MASS_DELETE_GUARD = "mass_delete_guard"
