"""Wording shared by messages, logs and artifacts."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 trainer`, `3 trainers`; `many` for nouns that do not take an s."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
