"""Windows time-zone ids (as Exchange and Graph use them) to IANA names."""

from __future__ import annotations

# The zones a deployment is likely to meet; the rest come from exchangelib's CLDR table.
WINDOWS_ZONES = {
    "UTC": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "Pacific Standard Time": "America/Los_Angeles",
    "India Standard Time": "Asia/Calcutta",
    "China Standard Time": "Asia/Shanghai",
    "Tokyo Standard Time": "Asia/Tokyo",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "Singapore Standard Time": "Asia/Singapore",
    "South Africa Standard Time": "Africa/Johannesburg",
}


def iana_name(windows_id: str) -> str | None:
    """The IANA name of a Windows zone id, or None when neither table knows it."""
    return WINDOWS_ZONES.get(windows_id) or _cldr(windows_id)


def _cldr(windows_id: str) -> str | None:
    """Windows -> IANA from the CLDR table that ships with exchangelib, when it is installed."""
    try:
        from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP
    except ImportError:  # the emulators do not need exchangelib otherwise
        return None
    table: dict[str, str] = MS_TIMEZONE_TO_IANA_MAP  # exchangelib ships no type information
    return table.get(windows_id)
