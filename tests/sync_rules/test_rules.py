"""Rule settings: defaults, provider overrides, and errors naming file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_rules.errors import ConfigurationError, TrainerSyncError
from sync_rules.rules import Rules, deep_merge, load_rules


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "provider-rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults():
    rules = load_rules()
    assert isinstance(rules, Rules)
    assert (rules.window.past_days, rules.window.future_days) == (7, 365)
    assert rules.out.sessions and rules.out.unavailability
    assert rules.in_.free_blocks is False and rules.in_.tentative_blocks is True
    assert rules.delete_mode == "move_to_deleted_items"
    assert (rules.mass_delete_guard.share, rules.mass_delete_guard.min_count) == (0.5, 10)
    assert rules.on_direction_off == "keep"
    assert rules.timezone == "Europe/London"


def test_provider_file_is_deep_merged_over_the_defaults(tmp_path):
    path = write(tmp_path, "window:\n  future_days: 90\nout:\n  show_as: Tentative\n")
    rules = load_rules(path, overrides={"on_direction_off": "remove"})
    assert (rules.window.past_days, rules.window.future_days) == (7, 90)
    assert rules.out.show_as == "Tentative" and rules.out.sessions is True
    assert rules.on_direction_off == "remove"


def test_empty_provider_file_means_defaults(tmp_path):
    assert load_rules(write(tmp_path, "")) == load_rules()


def test_rules_are_frozen():
    with pytest.raises(ValueError):
        load_rules().window.past_days = 3  # type: ignore[misc]


def test_deep_merge_replaces_lists_and_scalars():
    merged = deep_merge({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}, "d": 2})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 2}


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("window:\n  past_days: -3\n", "window.past_days", "greater than or equal to 0"),
        ("window:\n  past_days: soon\n", "window.past_days", "valid integer"),
        ("out:\n  subjekt: x\n", "out.subjekt", "unknown setting"),
        ("out:\n  subject: '{course} at {room}'\n", "out.subject", "unknown placeholder {room}"),
        ("out:\n  show_as: Maybe\n", "out.show_as", "'Free', 'Tentative'"),
        ("out:\n  categories: ['a;b']\n", "out.categories", "may not contain ';'"),
        ("in:\n  free_blocks: sometimes\n", "in.free_blocks", "valid boolean"),
        ("delete_mode: shred\n", "delete_mode", "'move_to_deleted_items'"),
        ("mass_delete_guard:\n  share: 1.5\n", "mass_delete_guard.share", "less than or equal"),
        ("timezone: Mars/Olympus\n", "timezone", "unknown time zone"),
        ("on_direction_off: archive\n", "on_direction_off", "'keep' or 'remove'"),
    ],
)
def test_bad_value_names_the_file_field_and_reason(tmp_path, text, field, reason):
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        load_rules(path)
    message = caught.value.message
    assert str(path) in message
    assert f"'{field}'" in message
    assert reason in message
    assert caught.value.hint


def test_bad_yaml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "window:\n  past_days: 7\n future_days: [\n")
    with pytest.raises(ConfigurationError) as caught:
        load_rules(path)
    assert str(path) in caught.value.message
    assert "not valid YAML at line" in caught.value.message


def test_top_level_must_be_a_mapping(tmp_path):
    path = write(tmp_path, "- window\n- out\n")
    with pytest.raises(ConfigurationError, match="top level must be a mapping"):
        load_rules(path)


def test_missing_file_is_a_configuration_error(tmp_path):
    with pytest.raises(TrainerSyncError, match="cannot be read"):
        load_rules(tmp_path / "nope.yaml")


def test_bad_override_mapping_is_named_as_such():
    with pytest.raises(ConfigurationError, match="Rule overrides: field 'window.future_days'"):
        load_rules(overrides={"window": {"future_days": 0}})
