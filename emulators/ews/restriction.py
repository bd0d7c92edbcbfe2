"""Evaluation of EWS search restrictions (t:Restriction) against an item view."""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING

from lxml import etree

from .errors import EwsError
from .model import ext_key
from .xmlutil import child, children, local, parse_dt, text_of

if TYPE_CHECKING:
    from .render import View

# A property value and a restriction constant, as _coerce() reads them (both of one type).
Comparable = dt.datetime | float | bool | str

COMPARISONS: dict[str, Callable[[Comparable, Comparable], bool]] = {
    "IsEqualTo": operator.eq,
    "IsNotEqualTo": operator.ne,
    "IsGreaterThan": operator.gt,
    "IsGreaterThanOrEqualTo": operator.ge,
    "IsLessThan": operator.lt,
    "IsLessThanOrEqualTo": operator.le,
}


def _field_values(uri: etree._Element, view: View) -> list[str] | None:
    """Values of the property a FieldURI/ExtendedFieldURI names, or None when it is not set."""
    kind = local(uri.tag)
    if kind == "ExtendedFieldURI":
        key = ext_key(uri)
        prop = None
        if view.occ is not None:
            prop = view.item.exceptions.get(view.occ.index, {}).get("ext:" + key)
        prop = prop if prop is not None else view.item.ext.get(key)
        if prop is None:
            return None
        many = child(prop, "Values")
        if many is not None:
            return [v.text or "" for v in children(many, "Value")]
        return [text_of(prop, "Value") or ""]
    name = uri.get("FieldURI", "").split(":", 1)[-1]
    if name == "Categories":
        el = view.props.get("Categories")
        return None if el is None else [c.text or "" for c in el]
    el = view.props.get(name)
    if el is None:
        return None
    return [el.text or ""]


def _coerce(a: str, b: str) -> tuple[Comparable, Comparable]:
    """Compare as date-times or numbers when both sides look like them, else as text."""
    for conv in (parse_dt, float):
        try:
            return conv(a), conv(b)
        except (ValueError, TypeError):
            continue
    if a.lower() in ("true", "false") and b.lower() in ("true", "false", "0", "1"):
        return a.lower() == "true", b.lower() in ("true", "1")
    return a.lower(), b.lower()


#: Properties Exchange will not search: a restriction on one is refused with
#: `ErrorUnsupportedPathForQuery` (exchangelib marks them `is_searchable=False`, and its
#: test_queryset_nonsearchable_fields checks each against Exchange).
UNSEARCHABLE = frozenset(
    {
        "item:MimeContent",
        "item:Culture",
        "calendar:UID",
        "calendar:IsResponseRequested",
        "calendar:StartTimeZone",
        "calendar:EndTimeZone",
    }
)


def check_searchable(restriction: etree._Element) -> None:
    """Refuse a restriction on a property Exchange does not search, as Exchange does."""
    for uri in restriction.iter("{*}FieldURI"):
        if uri.get("FieldURI") in UNSEARCHABLE:
            raise EwsError(
                "ErrorUnsupportedPathForQuery",
                f"The property path {uri.get('FieldURI')} is not supported for query.",
            )


def matches(node: etree._Element, view: View) -> bool:
    """Whether a restriction node holds for the item view."""
    kind = local(node.tag)
    if kind == "And":
        return all(matches(c, view) for c in children(node))
    if kind == "Or":
        return any(matches(c, view) for c in children(node))
    if kind == "Not":
        return not matches(children(node)[0], view)
    uri = next((c for c in children(node) if local(c.tag).endswith("FieldURI")), None)
    if uri is None:
        raise EwsError("ErrorInvalidRestriction", f"Restriction {kind} without a field.")
    values = _field_values(uri, view)
    if kind == "Exists":
        return values is not None
    if kind == "Contains":
        const = child(node, "Constant")
        needle = (const.get("Value") if const is not None else "") or ""
        mode = node.get("ContainmentMode", "Substring")
        comp = node.get("ContainmentComparison", "Exact")
        for v in values or []:
            a, b = (v.lower(), needle.lower()) if "Ignore" in comp else (v, needle)
            if (mode == "FullString" and a == b) or (mode == "Prefixed" and a.startswith(b)):
                return True
            if mode in ("Substring", "ExactPhrase", "PrefixOnWords") and b in a:
                return True
        return False
    if kind in COMPARISONS:
        const = child(node, "FieldURIOrConstant", "Constant")
        if const is None:
            raise EwsError("ErrorInvalidRestriction", f"{kind} without a constant.")
        target = const.get("Value", "")
        if values is None:
            return kind == "IsNotEqualTo"
        op = COMPARISONS[kind]
        hits = []
        for v in values:
            left, right = _coerce(v, target)
            try:
                hits.append(op(left, right))
            except TypeError:
                hits.append(False)
        return any(hits) if kind != "IsNotEqualTo" else all(hits)
    raise EwsError("ErrorUnsupportedQueryFilter", f"Restriction {kind} is not supported.")
