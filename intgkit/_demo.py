"""``intgkit demo``: audit a deliberately mediocre local site with every built-in integration.

Everything runs on 127.0.0.1 and nothing leaves the machine: a web site (HTTP + HTTPS), a TLS
endpoint whose certificate expires soon, a DNS server for the site's zone and a fake Cloudflare
API. The integrations are the real ones, configured through their constructor overrides (trust
roots, name overrides, nameserver, API base) exactly as a user points them at real hosts.
"""

from __future__ import annotations

from ._errors import MissingExtraError
from ._registry import IntegrationRegistry
from ._results import IntegrationResults
from ._runner import IntegrationRunner


async def audit() -> IntegrationResults:
    """Start the local servers, run the built-in integrations against them, stop the servers."""
    try:
        from .testing import DemoServers
    except ImportError as exc:  # trustme / dnslib live in the testing extra
        raise MissingExtraError(exc.name or "trustme", "testing", "intgkit demo") from exc

    async with DemoServers() as servers:
        registry = IntegrationRegistry(None)
        for integ in servers.integrations():
            registry.register(integ)
        runner = IntegrationRunner(registry, timeout=20)
        site_results = await runner.arun(registry.names(), targets=[servers.SITE])
        # the shop's certificate comes from another CA: trust it for the second run
        registry.unregister("tls_certificate")
        registry.register(servers.shop_integration())
        shop_results = await runner.arun(["tls_certificate"], targets=[servers.SHOP])
    return IntegrationResults([*site_results, *shop_results])
