"""Wording shared by messages, logs and artifacts."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """`1 trainer`, `3 trainers`."""
    return f"{count} {noun if count == 1 else noun + 's'}"


#: Characters that mean something inside a Markdown line (or as HTML), escaped in user text;
#: the text never starts a line, so list and heading marks need no escape.
_MARKDOWN = str.maketrans(
    {c: "\\" + c for c in "\\`*_[]|~"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


def markdown_text(text: object) -> str:
    """Text as a literal in Markdown, on one line: course names, subjects and errors are data,
    never markup (a `|` cannot end a table cell, a `<script>` stays text)."""
    return " ".join(str(text).split()).translate(_MARKDOWN)
