"""Rule settings: defaults from `default.yaml`, a provider's overrides deep-merged over them.

`load_rules` is the only way in; every problem becomes a `ConfigurationError` naming the
file, the field and the reason, so an administrator can fix the file without a traceback.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sync_rules.errors import ConfigurationError
from sync_rules.text import plural
from sync_rules.vocabulary import DeleteMode, WritableShowAs

DEFAULT_RULES_PATH = Path(__file__).with_name("default.yaml")

#: The text columns of a platform entry that a template may show.
ENTRY_TEXT_FIELDS = (
    "course",
    "venue",
    "venue_address",
    "event_ref",
    "event_url",
    "delegate_instructions_url",
    "trainer_instructions_url",
    "reason",
)
#: Placeholders a subject, body or location template may use: those columns, and the
#: entry's dates as text.
TEMPLATE_FIELDS: frozenset[str] = frozenset({*ENTRY_TEXT_FIELDS, "when"})


def _check_template(value: str) -> str:
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc})") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            allowed = ", ".join(sorted(TEMPLATE_FIELDS))
            raise ValueError(f"unknown placeholder {{{name}}}; allowed: {allowed}")
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} may not carry a format spec or conversion")
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Window(_Frozen):
    """How far back and ahead entries and items are compared."""

    past_days: int = Field(ge=0, le=3650)
    future_days: int = Field(ge=1, le=3650)

    @property
    def past(self) -> timedelta:
        return timedelta(days=self.past_days)

    @property
    def future(self) -> timedelta:
        return timedelta(days=self.future_days)


class OutRules(_Frozen):
    """Which platform entries are pushed to Exchange and how they are rendered."""

    sessions: bool
    unavailability: bool
    subject: str
    location: str
    body: str
    unavailability_subject: str
    unavailability_body: str
    unavailability_location: str
    show_as: WritableShowAs
    categories: tuple[str, ...]
    reminder_minutes: int | None = Field(ge=0, le=40320)

    @field_validator(
        "subject",
        "location",
        "body",
        "unavailability_subject",
        "unavailability_body",
        "unavailability_location",
    )
    @classmethod
    def _templates(cls, value: str) -> str:
        return _check_template(value)

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not name.strip():
                raise ValueError("a category name may not be empty")
            if ";" in name:
                raise ValueError(f"category {name!r} may not contain ';'")
        return value


class InRules(_Frozen):
    """Which of a trainer's own Outlook items block them in the platform."""

    free_blocks: bool
    tentative_blocks: bool


class MassDeleteGuard(_Frozen):
    """Hold a trainer's plan that deletes more than `share` of a side's mirrors and
    more than `min_count` items."""

    share: float = Field(ge=0.0, le=1.0)
    min_count: int = Field(ge=0)


class AlertRules(_Frozen):
    """When the provider's runs raise an alert (the automations of `trainer-sync alerts`)."""

    failures_in_a_row: int = Field(ge=1, le=1000)
    throttled_over: int = Field(ge=1, le=1_000_000)


class Rules(_Frozen):
    """The complete, validated rule settings of one provider."""

    timezone: str
    window: Window
    out: OutRules
    in_: InRules = Field(alias="in")
    delete_mode: DeleteMode
    mass_delete_guard: MassDeleteGuard
    on_direction_off: Literal["keep", "remove"]
    alerts: AlertRules

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Return `base` with `overrides` merged in: mappings merge key by key, anything else
    (scalars, lists) replaces the base value."""
    merged: dict[str, Any] = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"Rules file {path} cannot be read: {exc.strerror or exc}",
            "check the path and its permissions",
        ) from None
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise ConfigurationError(
            f"Rules file {path} is not UTF-8 text: line {line} has the byte "
            f"0x{exc.object[exc.start]:02X}",
            "save it as UTF-8 (a YAML file is text: check it is the file you meant)",
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigurationError(
            f"Rules file {path} is not valid YAML{where}: {problem}",
            "fix the YAML syntax (indentation, quotes, colons)",
        ) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            f"Rules file {path}: the top level must be a mapping of settings, "
            f"not {type(data).__name__}",
            "start the file with settings such as 'window:' or 'out:'",
        )
    return data


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if not isinstance(part, int)) or "(top level)"


def load_rules(path: Path | None = None, overrides: Mapping[str, Any] | None = None) -> Rules:
    """Load the rule settings.

    `path` is a provider's rules file (a partial mapping deep-merged over the defaults);
    `overrides` is a further mapping merged over that. Raises `ConfigurationError` naming
    the file, the field and the reason when anything is invalid.
    """
    data: dict[str, Any] = dict(_read_yaml(DEFAULT_RULES_PATH))
    source, label = str(DEFAULT_RULES_PATH), f"Rules file {DEFAULT_RULES_PATH}"
    if path is not None:
        data = deep_merge(data, _read_yaml(Path(path)))
        source, label = str(path), f"Rules file {path}"
    if overrides:
        data = deep_merge(data, overrides)
        source = f"{path} or the rule overrides" if path is not None else "the rule overrides"
        label = f"Rules file {path} with overrides" if path is not None else "Rule overrides"
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_name(first["loc"])
        reason = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            reason = "unknown setting"
        more = len(exc.errors()) - 1
        extra = f" (and {plural(more, 'more problem')})" if more else ""
        raise ConfigurationError(
            f"{label}: field '{field}': {reason}{extra}",
            f"fix '{field}' in {source}; defaults are in {DEFAULT_RULES_PATH.name}",
        ) from None
