"""The /_control/ JSON API: accounts, grants, apps, items, counters, request log, faults, reset."""

from __future__ import annotations

import urllib.parse
from typing import Any

from lxml import etree

from .behaviour import Behaviour
from .model import App, Grant, Item, Store
from .render import occurrences
from .xmlutil import children, local


def handle_control(
    store: Store,
    beh: Behaviour,
    method: str,
    path: urllib.parse.SplitResult,
    data: dict[str, Any],
) -> tuple[int, Any]:
    """Route one control request: (HTTP status, JSON result)."""
    parts = [urllib.parse.unquote(p) for p in path.path.split("/")[2:] if p]
    query = urllib.parse.parse_qs(path.query)
    route = (method, tuple(parts[:1]))
    with store.lock:
        if route == ("GET", ("health",)):
            return 200, {"ok": True}
        if route == ("POST", ("accounts",)):
            store.add_account(data["email"], data["password"], data.get("name"))
            store.save()
            return 200, {"email": data["email"]}
        if route == ("GET", ("accounts",)):
            return 200, [a["email"] for a in store.accounts.values()]
        if route == ("POST", ("grants",)):
            kind = data.get("kind", "delegate")
            role = data.get("calendar_role", "Editor")
            if kind not in ("delegate", "impersonation") or role not in (
                "Editor",
                "Reviewer",
                "None",
            ):
                return 400, {
                    "error": "kind: delegate|impersonation; calendar_role: Editor|Reviewer|None"
                }
            for who in (data["owner"], data["grantee"]):
                if store.account(who) is None:
                    return 404, {"error": f"unknown account {who}"}
            store.grant(Grant(data["owner"], data["grantee"], kind, role))
            store.save()
            return 200, {"ok": True}
        if route == ("POST", ("apps",)):
            app = App(
                data["tenant"],
                data["client_id"],
                data["client_secret"],
                list(data.get("mailboxes", [])),
            )
            store.apps[f"{app.tenant}:{app.client_id}"] = app
            store.save()
            return 200, {"token_url": f"/{app.tenant}/oauth2/v2.0/token"}
        if (
            method == "GET"
            and parts[:1] == ["mailboxes"]
            and len(parts) == 3
            and parts[2] == "items"
        ):
            acct = store.account(parts[1])
            if acct is None:
                return 404, {"error": f"unknown mailbox {parts[1]}"}
            include_deleted = (query.get("include_deleted") or ["1"])[0] not in ("0", "false")
            items = [
                item_json(i)
                for i in sorted(store.items.values(), key=lambda i: i.created)
                if i.mailbox.lower() == parts[1].lower()
                and (include_deleted or i.folder == "calendar")
            ]
            return 200, items
        if route == ("GET", ("counters",)):
            return 200, beh.counter_report()
        if route == ("GET", ("requests",)):
            return 200, beh.requests()
        if route == ("GET", ("schema-violations",)):
            return 200, beh.violations()
        if (method, tuple(parts)) in (
            ("POST", ("counters", "reset")),
            ("DELETE", ("counters",)),
        ):
            beh.reset_counters()
            return 200, {"ok": True}
        if route == ("POST", ("faults",)):
            beh.set_faults(data)
            return 200, beh.snapshot()
        if route == ("GET", ("faults",)):
            return 200, beh.snapshot()
        if route == ("POST", ("throttling",)):
            beh.set_throttling(data)
            return 200, beh.snapshot()
        if (method, tuple(parts)) == ("POST", ("subscriptions", "expire")):
            # As if no GetEvents had reached them within their timeout (minutes, at least one).
            with store.lock:
                for subscription in store.subscriptions.values():
                    subscription.expired = True
            return 200, {"expired": len(store.subscriptions)}
        if (method, tuple(parts)) == ("POST", ("subscriptions", "lose-events")):
            # As a server that lost its event queue: every subscription missed events.
            with store.lock:
                for subscription in store.subscriptions.values():
                    subscription.missed = True
            return 200, {"missed": len(store.subscriptions)}
        if route == ("GET", ("subscriptions",)):
            with store.lock:
                return 200, [
                    {"id": s.id, "kind": s.kind, "owner": s.owner, "mailbox": s.mailbox,
                     "folders": list(s.folders), "expired": s.expired}
                    for s in store.subscriptions.values()
                ]  # fmt: skip
        if route == ("POST", ("reset",)):
            keep = bool(data.get("keep_accounts"))
            saved = (store.accounts, store.grants, store.apps)
            store.clear()
            if keep:
                store.accounts, store.grants, store.apps = saved
            beh.set_faults({"clear": True})
            beh.set_throttling({"clear": True})
            beh.reset_counters()
            store.save()
            return 200, {"ok": True}
    return 404, {"error": f"no control endpoint {method} {path.path}"}


def item_json(item: Item) -> dict[str, Any]:
    """An item as the control API shows it."""
    body = item.props.get("Body")
    cats = item.props.get("Categories")
    return {
        "id": item.id,
        "change_key": item.change_key,
        "folder": item.folder,
        "deleted": item.folder != "calendar",
        "deleted_how": item.deleted_how,
        "calendar_item_type": "RecurringMaster" if item.is_recurring else "Single",
        "subject": item.subject,
        "start": item.text("Start"),
        "end": item.text("End"),
        "is_all_day": item.is_all_day,
        "location": item.text("Location"),
        "body": body.text if body is not None else None,
        "body_type": body.get("BodyType") if body is not None else None,
        "show_as": item.text("LegacyFreeBusyStatus") or "Busy",
        "sensitivity": item.text("Sensitivity") or "Normal",
        "categories": [c.text for c in cats] if cats is not None else [],
        "reminder_is_set": item.text("ReminderIsSet") in ("true", "1")
        if item.text("ReminderIsSet")
        else True,
        "reminder_minutes_before_start": int(item.text("ReminderMinutesBeforeStart") or 15),
        "is_cancelled": item.text("IsCancelled") in ("true", "1"),
        "start_time_zone": item.props["StartTimeZone"].get("Id")
        if "StartTimeZone" in item.props
        else None,
        "recurrence": etree.tostring(item.props["Recurrence"]).decode()
        if item.is_recurring
        else None,
        "occurrence_count": len(occurrences(item))
        if item.is_recurring and _bounded(item)
        else None,
        "modified_occurrences": sorted(item.exceptions),
        "deleted_occurrences": sorted(item.deleted_occurrences),
        "extended_properties": item.ext_values(),
        "created": item.created.isoformat(),
        "last_modified": item.modified.isoformat(),
        "last_modified_name": item.modified_by,
    }


def _bounded(item: Item) -> bool:
    rec = item.props.get("Recurrence")
    return rec is not None and any(local(c.tag) != "NoEndRecurrence" for c in children(rec)[1:])
