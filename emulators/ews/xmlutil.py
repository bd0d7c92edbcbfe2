"""XML namespaces and small helpers for building EWS SOAP messages with lxml."""

from __future__ import annotations

import datetime as dt
from typing import Any

# lxml ships no type information (and lxml-stubs is not installed), so to mypy `etree._Element`
# is Any: the helpers here give the values they read off elements their real types.
from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP, "m": M, "t": T}
BODY_NSMAP = {"m": M, "t": T}

# What an Exchange 2019 CU server reports; exchangelib maps 15.2 to the Exchange2019 API version.
SERVER_VERSION = {
    "MajorVersion": "15",
    "MinorVersion": "2",
    "MajorBuildNumber": "1118",
    "MinorBuildNumber": "7",
    "Version": "V2017_07_11",
}

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def parse(data: bytes) -> etree._Element:
    """Parse request bytes without resolving external entities (raises etree.XMLSyntaxError)."""
    return etree.fromstring(data, _PARSER)


def m(tag: str) -> str:
    """Qualified name in the messages namespace."""
    return f"{{{M}}}{tag}"


def t(tag: str) -> str:
    """Qualified name in the types namespace."""
    return f"{{{T}}}{tag}"


def sub(parent: etree._Element, tag: str, text: Any = None, **attrs: str) -> etree._Element:
    """Append a child element (tag already qualified) with optional text and attributes."""
    el = etree.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = text_value(text)
    return el


def text_value(value: Any) -> str:
    """Render a Python value the way EWS writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return format_dt(value)
    return str(value)


def local(tag: Any) -> str:
    """Local part of a qualified tag ('' for comments and processing instructions)."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def child(el: etree._Element | None, *path: str) -> etree._Element | None:
    """Walk down by local names, ignoring namespaces."""
    cur = el
    for name in path:
        if cur is None:
            return None
        cur = next((c for c in cur if local(c.tag) == name), None)
    return cur


def children(el: etree._Element | None, name: str | None = None) -> list[etree._Element]:
    """Element children, optionally only those with a given local name."""
    if el is None:
        return []
    return [c for c in el if isinstance(c.tag, str) and (name is None or local(c.tag) == name)]


def text_of(el: etree._Element | None, *path: str) -> str | None:
    """Text of a descendant found by local names, or None."""
    found = child(el, *path) if path else el
    text: str | None = found.text if found is not None else None
    return text.strip() if text is not None else None


def parse_dt(value: str) -> dt.datetime:
    """Parse an xs:dateTime into an aware UTC datetime (naive values are taken as UTC)."""
    v = value.strip()
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(v)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def format_dt(value: dt.datetime) -> str:
    """UTC xs:dateTime with a trailing Z, as Exchange writes it."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_bool(value: str | None) -> bool:
    """xs:boolean."""
    return (value or "").strip().lower() in ("1", "true")


def envelope(body_child: etree._Element | None = None) -> tuple[etree._Element, etree._Element]:
    """A response envelope with the ServerVersionInfo header; returns (envelope, body)."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    header = sub(env, f"{{{SOAP}}}Header")
    info = etree.SubElement(header, t("ServerVersionInfo"), nsmap={"h": T})
    for k, v in SERVER_VERSION.items():
        info.set(k, v)
    body = sub(env, f"{{{SOAP}}}Body")
    if body_child is not None:
        body.append(body_child)
    return env, body


def serialize(env: etree._Element) -> bytes:
    """Serialize a document with an XML declaration."""
    data: bytes = etree.tostring(env, xml_declaration=True, encoding="utf-8")
    return data


def soap_fault(code: str, message: str, values: dict[str, str] | None = None) -> bytes:
    """A SOAP fault carrying an EWS error code (detail/e:ResponseCode, as Exchange sends it)."""
    env, body = envelope()
    fault = sub(body, f"{{{SOAP}}}Fault")
    fc = etree.SubElement(fault, "faultcode", nsmap={"a": T})
    fc.text = f"a:{code}"
    fs = sub(fault, "faultstring", message)
    fs.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    detail = sub(fault, "detail")
    etree.SubElement(detail, f"{{{E}}}ResponseCode", nsmap={"e": E}).text = code
    etree.SubElement(detail, f"{{{E}}}Message", nsmap={"e": E}).text = message
    if values:
        mx = etree.SubElement(detail, t("MessageXml"), nsmap={"t": T})
        for name, val in values.items():
            sub(mx, t("Value"), val, Name=name)
    return serialize(env)
