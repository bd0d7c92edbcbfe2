"""The Microsoft identity platform's part: OpenID metadata and the v2.0 token endpoint.

Access tokens are JWT-shaped (header.payload.signature, HMAC-signed with a key made at start)
and carry the claims Graph decides on: `tid`, `appid`, `roles` (application permissions) or
`scp` + `upn` (a signed-in user), `aud` and `exp`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .model import Store

GRAPH_AUDIENCE = "https://graph.microsoft.com"
USER_SCOPES = "Calendars.ReadWrite User.Read"


class TokenError(Exception):
    """An OAuth2 error answer (RFC 6749 §5.2) with an AADSTS code in the description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict[str, Any]:
        """The JSON error body as Entra ID sends it."""
        return {
            "error": self.error,
            "error_description": self.description,
            "error_codes": [int(m) for m in re.findall(r"^AADSTS(\d+)", self.description)],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Issuer:
    """Issues and checks access tokens for one running server."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._key = secrets.token_bytes(32)

    def revoke_all(self) -> None:
        """Invalidate every token issued so far (a new signing key), as a revocation would."""
        self._key = secrets.token_bytes(32)

    # --- metadata -----------------------------------------------------------------------------
    @staticmethod
    def openid_configuration(base_url: str, tenant: str) -> dict[str, Any]:
        """The tenant's v2.0 OpenID Connect discovery document (what msal reads)."""
        root = f"{base_url}/{tenant}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "jwks_uri": f"{base_url}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base_url}/{tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base_url}/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "roles", "scp"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }

    # --- token endpoint -----------------------------------------------------------------------
    def token(
        self, tenant: str, body: bytes, auth_header: str | None, base_url: str
    ) -> dict[str, Any]:
        """Answer a token request (client_credentials for apps, password for users)."""
        form = {k: v[-1] for k, v in parse_qs(body.decode(errors="replace")).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        if auth_header and auth_header.lower().startswith("basic "):
            raw = base64.b64decode(auth_header[6:]).decode(errors="replace")
            client_id, _, secret = raw.partition(":")
        if not self.store.has_tenant(tenant):
            raise TokenError(
                400,
                "invalid_request",
                f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the "
                "correct tenant ID and are signing into the correct cloud.",
            )
        grant = form.get("grant_type")
        scope = form.get("scope", "")
        if grant == "client_credentials":
            claims = self._app_claims(tenant, client_id, secret, scope, base_url)
        elif grant == "password":
            claims = self._user_claims(tenant, form.get("username", ""), form.get("password", ""))
        else:
            raise TokenError(
                400,
                "unsupported_grant_type",
                f"AADSTS70003: The app requested an unsupported grant type '{grant}'.",
            )
        lifetime = self.store.token_lifetime
        now = int(time.time())
        claims.update({"iat": now, "nbf": now, "exp": now + lifetime, "tid": tenant})
        claims.update({"iss": f"https://sts.windows.net/{tenant}/", "aud": GRAPH_AUDIENCE})
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self._sign(claims),
        }

    def _app_claims(
        self, tenant: str, client_id: str, secret: str | None, scope: str, base_url: str
    ) -> dict[str, Any]:
        app = self.store.app(tenant, client_id)
        if app is None:
            raise TokenError(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the "
                f"directory '{tenant}'.",
            )
        if not secret or not hmac.compare_digest(secret, app.client_secret):
            raise TokenError(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in "
                f"the request is the client secret value, not the client secret ID, for a secret "
                f"added to app '{client_id}'.",
            )
        resources = {GRAPH_AUDIENCE, base_url.lower()}
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise TokenError(
                400,
                "invalid_scope",
                f"AADSTS1002012: The provided value for scope {scope} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        resource = scopes[0][: -len("/.default")].lower()
        if resource not in resources:
            raise TokenError(
                400,
                "invalid_resource",
                f"AADSTS500011: The resource principal named {resource} was not found in the "
                f"tenant named {tenant}.",
            )
        claims: dict[str, Any] = {"appid": app.client_id, "idtyp": "app", "oid": app.client_id}
        if app.token_roles():  # Entra ID leaves the claim out when nothing was consented
            claims["roles"] = app.token_roles()
        return claims

    def _user_claims(self, tenant: str, username: str, password: str) -> dict[str, Any]:
        account = self.store.accounts.get(username.lower())
        if account is None or not hmac.compare_digest(password, account.password):
            raise TokenError(
                400,
                "invalid_grant",
                "AADSTS50126: Error validating credentials due to invalid username or password.",
            )
        return {"upn": account.email, "scp": USER_SCOPES, "idtyp": "user", "oid": account.email}

    # --- tokens -------------------------------------------------------------------------------
    def _sign(self, claims: dict[str, Any]) -> str:
        head = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        payload = _b64(json.dumps(claims).encode())
        sig = hmac.new(self._key, f"{head}.{payload}".encode(), hashlib.sha256).digest()
        return f"{head}.{payload}.{_b64(sig)}"

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token; None otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        sig = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_b64(sig), parts[2]):
            return None
        claims: dict[str, Any] = json.loads(_unb64(parts[1]))  # signed by us: a JSON object
        if claims.get("exp", 0) <= time.time():
            claims["_expired"] = True
        return claims


def tenant_of(path: str) -> str:
    """The tenant segment of an identity-platform path (`/{tenant}/oauth2/...`)."""
    return urlsplit(path).path.strip("/").split("/")[0]
