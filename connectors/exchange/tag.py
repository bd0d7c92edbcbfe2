"""The engine's tag on the Exchange items it creates.

A named extended MAPI property, the same for every backend so EWS and Microsoft Graph read each
other's items:

- property set GUID `7d3c8a2e-5b41-4f0e-9a6c-2f1e8b9d4c31` (fixed for the product),
- property name `TrainerSyncTag`, type String,
- value `<entry_key>|<content_hash>`.

EWS addresses it as `ExtendedFieldURI PropertySetId=<guid> PropertyName=TrainerSyncTag
PropertyType=String`; Graph as the single-value extended property id
`String {7d3c8a2e-5b41-4f0e-9a6c-2f1e8b9d4c31} Name TrainerSyncTag`.
"""

from __future__ import annotations

TAG_PROPERTY_SET_ID = "7d3c8a2e-5b41-4f0e-9a6c-2f1e8b9d4c31"
TAG_PROPERTY_NAME = "TrainerSyncTag"
TAG_PROPERTY_TYPE = "String"
GRAPH_TAG_PROPERTY_ID = f"String {{{TAG_PROPERTY_SET_ID}}} Name {TAG_PROPERTY_NAME}"
_SEP = "|"


def encode_tag(entry_key: str, content_hash: str) -> str:
    """The tag value for a platform entry; entry keys must not contain `|`."""
    if _SEP in entry_key:
        raise ValueError(f"entry key {entry_key!r} contains {_SEP!r}")
    return f"{entry_key}{_SEP}{content_hash}"


def decode_tag(value: str | None) -> tuple[str | None, str | None]:
    """(entry_key, content_hash) from a tag value; (None, None) for an untagged item.

    A value without a separator is read as a key with an unknown hash, so a damaged tag still
    identifies the engine's item (and the hash mismatch makes the engine rewrite it).
    """
    if not value:
        return None, None
    key, sep, content_hash = value.partition(_SEP)
    if not key:
        return None, None
    return key, (content_hash if sep else None)
