"""OAuth2 client-credentials token endpoint, shaped like Entra ID's /{tenant}/oauth2/v2.0/token."""

from __future__ import annotations

import base64
import secrets
import time
import urllib.parse
from typing import Any

from .model import Store

TOKEN_LIFETIME_S = 3599


def _err(status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": error, "error_description": description}


def issue_token(
    store: Store, tenant: str, body: bytes, authorization: str | None
) -> tuple[int, dict[str, Any]]:
    """Answer a token request: (HTTP status, JSON body)."""
    form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode(errors="replace")).items()}
    auth = authorization or ""
    if auth.lower().startswith("basic "):
        # client_secret_basic: credentials in the Authorization header instead of the body.
        cid, _, secret = base64.b64decode(auth[6:]).decode(errors="replace").partition(":")
        form.setdefault("client_id", urllib.parse.unquote(cid))
        form.setdefault("client_secret", urllib.parse.unquote(secret))
    if form.get("grant_type") != "client_credentials":
        return _err(400, "unsupported_grant_type", "AADSTS70003: only client_credentials.")
    if not (form.get("scope") or "").endswith("/.default"):
        return _err(
            400,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid; use <resource>/.default.",
        )
    with store.lock:
        app = store.apps.get(f"{tenant}:{form.get('client_id', '')}")
        if app is None:
            return _err(400, "unauthorized_client", "AADSTS700016: Application not found.")
        if not secrets.compare_digest(app.client_secret, form.get("client_secret", "")):
            return _err(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        token = secrets.token_urlsafe(32)
        store.tokens[token] = {
            "app": f"{tenant}:{app.client_id}",
            "expires": time.time() + TOKEN_LIFETIME_S,
        }
        store.save()  # issued tokens stay valid across restarts, like Entra ID's signed tokens
    return 200, {
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_S,
        "ext_expires_in": TOKEN_LIFETIME_S,
        "access_token": token,
    }
