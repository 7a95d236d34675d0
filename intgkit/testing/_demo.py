"""The local estate ``intgkit demo`` audits, for the demo, notebook 05 and users' own tries.

A deliberately mediocre web site (``site.test``), a shop TLS endpoint whose certificate expires
in 20 days and which accepts an anonymous cipher suite (``shop.site.test``), the site's DNS zone,
its mail server (no STARTTLS) and a fake Cloudflare account holding the zone with weak settings
(an origin its own DNS and SPF give away, no Authenticated Origin Pulls, the OWASP ruleset
logging only); all on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Self

from ._cloudflare import (
    CLOUDFLARE_MANAGED_RULESET,
    OWASP_CORE_RULESET,
    FakeCloudflare,
    FakeRecord,
    execute_managed,
)
from ._dns import DnsZoneServer
from ._site import LocalSite
from ._smtp import SmtpServer
from ._tls import TlsServer

if TYPE_CHECKING:
    from .._integration import Integration
    from ..integrations.tls_certificate import TlsCertificate

__all__ = ["DemoServers"]

SITE = "site.test"
#: the shop's TLS 1.2 suites: two good ones and an anonymous one (no certificate: impersonable)
SHOP_CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:AECDH-AES128-SHA:@SECLEVEL=0"


class DemoServers:
    """Start and stop the demo's servers together; build integrations configured for them.

    ``async with DemoServers() as servers:`` then ``servers.integrations()`` gives the four
    built-in integrations pointed at ``servers.SITE``; ``servers.shop_integration()`` gives a
    tls_certificate for ``servers.SHOP``, whose certificate comes from another CA.
    """

    SITE = SITE
    SHOP = f"shop.{SITE}"
    TOKEN = "demo-token-not-a-secret"  # noqa: S105 - the fake API's made-up token
    #: The site's zone: SPF ending in ?all through an include, DMARC p=none with reports sent to
    #: another organisation that never agreed to take them, an MX (whose server offers no
    #: STARTTLS), and no MTA-STS, TLS-RPT or CAA records; unsigned.
    ZONE = f"""
$ORIGIN {SITE}.
$TTL 300
@       IN SOA ns1.{SITE}. hostmaster.{SITE}. 1 7200 3600 1209600 300
@       IN NS  ns1.{SITE}.
@       IN A   127.0.0.1
@       IN MX  10 mail.{SITE}.
mail    IN A   127.0.0.1
shop    IN A   127.0.0.1
@       IN TXT "v=spf1 include:_spf.{SITE} ?all"
_spf    IN TXT "v=spf1 ip4:127.0.0.1 ~all"
_dmarc  IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@reports.example"
"""

    def __init__(self) -> None:
        now = datetime.now(UTC)
        self.site = LocalSite.mediocre()
        self.shop = TlsServer(
            names=(self.SHOP,),
            not_before=now - timedelta(days=70),
            not_after=now + timedelta(days=20),
            ciphers=SHOP_CIPHERS,
        )
        self.dns = DnsZoneServer(self.ZONE)
        self.mail = SmtpServer((f"mail.{SITE}",), starttls=False)
        self.cloudflare = FakeCloudflare(self.TOKEN)
        self.cloudflare.add_zone(
            SITE,
            settings={"ssl": "flexible", "min_tls_version": "1.0", "always_use_https": "off"},
            records=[
                FakeRecord("A", SITE, "192.0.2.10", proxied=True),
                FakeRecord("A", f"origin.{SITE}", "192.0.2.10", proxied=False),
                FakeRecord("TXT", SITE, '"v=spf1 ip4:192.0.2.0/24 ~all"'),  # names the origin
            ],
            dnssec="disabled",
            rulesets={
                "http_request_firewall_managed": [
                    execute_managed(CLOUDFLARE_MANAGED_RULESET),
                    execute_managed(OWASP_CORE_RULESET, action="log"),  # logs, never blocks
                ],
            },
            origin_pulls=False,
        )
        self._stack: contextlib.AsyncExitStack | None = None

    @property
    def shop_resolve(self) -> str:
        """``INTGKIT_RESOLVE`` for the shop: its default port 443, connected to the local one."""
        return f"{self.SHOP}:443:{self.shop.host}:{self.shop.port}"

    @property
    def mail_resolve(self) -> str:
        """``INTGKIT_RESOLVE`` for the MX host: port 25 connected to the local SMTP server."""
        return self.mail.resolve_for()

    def integrations(self) -> list[Integration]:
        """The four built-in integrations, configured by constructor for ``SITE``."""
        from ..integrations.cloudflare import Cloudflare
        from ..integrations.dns_email import DnsEmail
        from ..integrations.http_headers import HttpHeaders
        from ..integrations.tls_certificate import TlsCertificate

        site, cloudflare = self.site, self.cloudflare
        return [
            HttpHeaders(ca_bundle=site.ca_bundle, resolve=site.resolve),
            TlsCertificate(ca_bundle=site.ca_bundle, resolve=site.resolve),
            DnsEmail(
                nameserver=self.dns.nameserver,
                ca_bundle=site.ca_bundle,
                resolve=f"{site.resolve},{self.mail_resolve}",
            ),
            Cloudflare(token=self.TOKEN, api_base=cloudflare.base_url, ca_bundle=cloudflare.ca_bundle),
        ]

    def shop_integration(self) -> TlsCertificate:
        """tls_certificate trusting the shop's CA and reaching ``SHOP`` on its local port."""
        from ..integrations.tls_certificate import TlsCertificate

        return TlsCertificate(ca_bundle=self.shop.ca_bundle, resolve=self.shop_resolve)

    async def start(self) -> Self:
        """Start every server; if one fails, the ones already started are stopped."""
        async with contextlib.AsyncExitStack() as stack:
            for server in (self.site, self.shop, self.dns, self.mail, self.cloudflare):
                await stack.enter_async_context(server)
            self._stack = stack.pop_all()
        return self

    async def stop(self) -> None:
        """Stop every server; safe to call twice."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
