"""Test integrations the way intgkit tests its own: real servers on 127.0.0.1, no mocks.

- :class:`LocalSite` and :class:`Route`: an HTTP + HTTPS web site with chosen headers, cookies,
  redirects and bodies (a throwaway trustme CA; ``site.env()`` gives the settings to reach it).
- :class:`TlsServer`: a TLS endpoint with a chosen certificate (expiring, expired, wrong name,
  untrusted CA, weak key) and protocol range.
- :class:`DnsZoneServer`, :class:`SilentDnsServer`, :class:`MtaStsPolicyServer`: DNS from zone
  text (UDP and TCP), a server that never answers (timeouts), and an MTA-STS policy host;
  :func:`signed_zone` signs zone text for DNSSEC tests.
- :class:`FakeCloudflare` (with :class:`FakeZone`, :class:`FakeRecord`,
  :class:`FakeCertificatePack`, :class:`FakeCertificate`, :class:`CloudflareRequest`,
  :func:`secure_zone_settings`, :func:`universal_pack`, :func:`execute_managed`): the Cloudflare
  API v4 envelope, pagination, bad tokens, missing permissions and rate limits, every answer
  shaped as the official SDK's models.
- :class:`RateLimitedAPI`: an HTTP API that allows N requests per period and answers 429 with
  Retry-After beyond it (and 503 for the first requests of each city, if asked), in a thread
  of its own: for trying retries, rate limits and the cache.
- :class:`SmtpServer`: an SMTP server (aiosmtpd) offering STARTTLS with a chosen certificate,
  or not, for MX checks.
- :class:`FakeIntegration` / :func:`fake_integration`: integrations from handlers, counting calls.
- :class:`DemoServers`: all of the above at once, as ``intgkit demo`` audits them.
- :func:`capture_logs`: structlog's event capture, re-exported.

These need the ``testing`` extra (``pip install "intgkit[testing]"``) for trustme, dnslib and aiosmtpd.
"""

from __future__ import annotations

from structlog.testing import capture_logs

from ._cloudflare import (
    CloudflareRequest,
    FakeCertificate,
    FakeCertificatePack,
    FakeCloudflare,
    FakeRecord,
    FakeZone,
    execute_managed,
    secure_zone_settings,
    universal_pack,
)
from ._demo import DemoServers
from ._dns import DnsZoneServer, MtaStsPolicyServer, SilentDnsServer, signed_zone
from ._fakes import FakeIntegration, fake_integration
from ._ratelimited import RateLimitedAPI
from ._site import LocalSite, Route
from ._smtp import SmtpServer
from ._tls import TlsServer

__all__ = [
    "CloudflareRequest",
    "DemoServers",
    "DnsZoneServer",
    "FakeCertificate",
    "FakeCertificatePack",
    "FakeCloudflare",
    "FakeIntegration",
    "FakeRecord",
    "FakeZone",
    "LocalSite",
    "MtaStsPolicyServer",
    "RateLimitedAPI",
    "Route",
    "SilentDnsServer",
    "SmtpServer",
    "TlsServer",
    "capture_logs",
    "execute_managed",
    "fake_integration",
    "secure_zone_settings",
    "signed_zone",
    "universal_pack",
]
