"""A service whose username is a Windows logon (DOMAIN\\user) is verified with ResolveNames,
a request made without an Account: it must ask the server's version first when none is pinned
(it raised AttributeError)."""

from __future__ import annotations

from connectors.exchange import ews_ops
from connectors.exchange.base import RequestStats
from connectors.exchange.config import ServiceConfig
from connectors.exchange.ews_transport import build_protocol
from emulators.ews import run_ews_emulator


def test_resolve_names_without_a_pinned_version_asks_the_server_first() -> None:
    with run_ews_emulator() as ews:
        ews.control.add_account("master@contoso.test", "pw")
        config = ServiceConfig(
            name="onprem",
            endpoint=ews.url,
            username="master@contoso.test",  # the stand-in signs in addresses only
            secret_ref="env:UNUSED",
        )
        protocol = build_protocol(config, "pw")
        try:
            assert protocol.config.version is None
            assert ews_ops.resolve_name(protocol, "master@contoso.test", RequestStats())
            assert protocol.config.version is not None and protocol.config.version.build
        finally:
            protocol.close()
        operations = [r["operation"] for r in ews.control.requests()]
        assert operations.index("ConvertId") < operations.index("ResolveNames")


def test_windows_logons_are_for_exchange_servers_basic_and_ntlm_sign_ins() -> None:
    logon = {
        "name": "onprem",
        "endpoint": "https://mail.contoso.test/EWS/Exchange.asmx",
        "username": "CONTOSO\\master",
        "secret_ref": "env:PW",
    }
    for auth in ("basic", "ntlm"):
        assert ServiceConfig(**logon, auth_type=auth).master_domain is None
