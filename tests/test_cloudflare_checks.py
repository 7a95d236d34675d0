"""The cloudflare integration's edge, WAF, certificate and origin checks, against the fake API.

Expected values come from the references each check cites: Cloudflare's docs (managed ruleset
ids, cipher recommendations, certificate pack statuses), hstspreload.org's submission rules
(includeSubDomains, preload, max-age >= 31536000), RFC 7208 (SPF terms) and RFC 8996 (TLS 1.0
and 1.1 deprecated)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from intgkit.integrations.cloudflare import Cloudflare
from intgkit.integrations.cloudflare._explanations import EXPLANATIONS
from intgkit.testing._cloudflare import (
    CLOUDFLARE_MANAGED_RULESET,
    OWASP_CORE_RULESET,
    FakeCertificate,
    FakeCertificatePack,
    FakeCloudflare,
    FakeRecord,
    execute_managed,
    universal_pack,
)

TOKEN = "cf-checks-token"
BLOCK = {"action": "block", "expression": "true"}


@pytest.fixture
async def cf() -> AsyncIterator[FakeCloudflare]:
    async with FakeCloudflare(token=TOKEN) as server:
        yield server


async def audit(cf: FakeCloudflare, **zone: Any) -> dict[str, list[dict[str, Any]]]:
    cf.add_zone("example.com", **zone)
    return await Cloudflare(token=TOKEN, api_base=cf.base_url, ca_bundle=cf.ca_bundle).fetch("example.com")


def rows(out: dict[str, list[dict[str, Any]]], check: str) -> list[tuple[str, bool, str]]:
    return sorted(
        (r["result_id"], r["passed"], r["severity"]) for r in out["findings"] if r["check"] == check
    )


# -- WAF: which managed rulesets are deployed, as what ---------------------------------------------

WAF_CASES = [
    # (managed-phase rules, custom-phase rules, waf, cloudflare managed, owasp)
    (
        [execute_managed(CLOUDFLARE_MANAGED_RULESET), execute_managed(OWASP_CORE_RULESET)],
        [],
        ("waf-rules-present", True, "info"),
        ("waf-managed-cloudflare-deployed", True, "info"),
        ("waf-managed-owasp-deployed", True, "info"),
    ),
    (
        [],
        [BLOCK],
        ("waf-rules-present", True, "info"),
        ("waf-managed-cloudflare-not-deployed", False, "low"),
        ("waf-managed-owasp-not-deployed", False, "low"),
    ),
    (  # a skip rule and a log rule are not a WAF (the bug: any enabled rule counted)
        [],
        [
            {"action": "skip", "expression": "true", "action_parameters": {"ruleset": "current"}},
            {"action": "log", "expression": "true"},
        ],
        ("waf-no-rules", False, "info"),
        ("waf-managed-cloudflare-not-deployed", False, "low"),
        ("waf-managed-owasp-not-deployed", False, "low"),
    ),
    (  # overridden to log: deployed, but nothing is blocked
        [execute_managed(CLOUDFLARE_MANAGED_RULESET, action="log"), execute_managed(OWASP_CORE_RULESET)],
        [],
        ("waf-rules-present", True, "info"),
        ("waf-managed-cloudflare-log-only", False, "medium"),
        ("waf-managed-owasp-deployed", True, "info"),
    ),
    (  # overridden off as a whole, and a deploying rule that is itself disabled
        [
            execute_managed(CLOUDFLARE_MANAGED_RULESET, enabled=False),
            {**execute_managed(OWASP_CORE_RULESET), "enabled": False},
        ],
        [BLOCK],
        ("waf-rules-present", True, "info"),
        ("waf-managed-cloudflare-disabled", False, "medium"),
        ("waf-managed-owasp-disabled", False, "medium"),
    ),
    (  # some categories / rules overridden off or to log
        [
            execute_managed(
                CLOUDFLARE_MANAGED_RULESET,
                categories=[{"category": "wordpress", "enabled": False}],
            ),
            execute_managed(
                OWASP_CORE_RULESET, rules=[{"id": "6179ae15870a4bb7b2d480d4843b323c", "action": "log"}]
            ),
        ],
        [],
        ("waf-rules-present", True, "info"),
        ("waf-managed-cloudflare-partly-disabled", False, "low"),
        ("waf-managed-owasp-partly-disabled", False, "low"),
    ),
]


@pytest.mark.parametrize(("managed", "custom", "waf", "cloudflare", "owasp"), WAF_CASES)
async def test_managed_waf_rulesets(
    cf: FakeCloudflare,
    managed: list[dict[str, Any]],
    custom: list[dict[str, Any]],
    waf: tuple[str, bool, str],
    cloudflare: tuple[str, bool, str],
    owasp: tuple[str, bool, str],
) -> None:
    """Managed rulesets by their documented ids; log or off overrides fail; skip/log rules are no WAF."""
    rulesets = {"http_request_firewall_managed": managed, "http_request_firewall_custom": custom}
    out = await audit(cf, rulesets={k: v for k, v in rulesets.items() if v})
    assert rows(out, "waf") == [waf]
    assert rows(out, "waf_managed_cloudflare") == [cloudflare]
    assert rows(out, "waf_managed_owasp") == [owasp]


async def test_zone_row_names_deployed_rulesets(cf: FakeCloudflare) -> None:
    """The zones section names the managed rulesets the zone executes."""
    out = await audit(cf, rulesets={"http_request_firewall_managed": [execute_managed(OWASP_CORE_RULESET)]})
    assert out["zones"][0]["managed_rulesets"] == "Cloudflare OWASP Core Ruleset"


# -- HSTS scope, 0-RTT, opportunistic encryption, ciphers, tls_1_2_only -----------------------------


def hsts(**sts: Any) -> dict[str, Any]:
    return {"security_header": {"strict_transport_security": {"enabled": True, "nosniff": True, **sts}}}


SETTING_CASES = [
    (hsts(max_age=31536000, include_subdomains=False, preload=False), "hsts_include_subdomains",
     [("hsts-include-subdomains-off", False, "low")]),
    (hsts(max_age=31536000, include_subdomains=True, preload=False), "hsts_preload",
     [("hsts-preload-off", False, "info")]),
    (hsts(max_age=15552000, include_subdomains=True, preload=True), "hsts_preload",
     [("hsts-preload-ineligible", False, "low")]),  # preload needs max-age >= 1 year
    (hsts(max_age=31536000, include_subdomains=False, preload=True), "hsts_preload",
     [("hsts-preload-ineligible", False, "low")]),  # ... and includeSubDomains
    (hsts(max_age=63072000, include_subdomains=True, preload=True), "hsts_preload",
     [("hsts-preload-on", True, "info")]),
    ({"0rtt": "on"}, "0rtt", [("0rtt-on", False, "low")]),
    ({"0rtt": "off"}, "0rtt", [("0rtt-off", True, "info")]),
    ({"opportunistic_encryption": "off"}, "opportunistic_encryption",
     [("opportunistic-encryption-off", False, "info")]),
    ({"ciphers": []}, "ciphers", [("ciphers-default", True, "info")]),
    ({"ciphers": ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305"]}, "ciphers",
     [("ciphers-strong", True, "info")]),
    ({"ciphers": ["ECDHE-RSA-AES128-GCM-SHA256", "AES128-GCM-SHA256"]}, "ciphers",
     [("ciphers-weak", False, "low")]),  # static RSA key exchange: no forward secrecy
    ({"ciphers": ["ECDHE-RSA-AES128-SHA"]}, "ciphers", [("ciphers-weak", False, "low")]),  # CBC, SHA-1
    ({"ciphers": ["ECDHE-RSA-AES128-GCM-SHA256", "DES-CBC3-SHA"]}, "ciphers",
     [("ciphers-weak", False, "medium")]),  # 3DES (Sweet32)
    ({"min_tls_version": "1.0", "tls_1_2_only": "on"}, "min_tls_version",
     [("min-tls-version-ok", True, "info")]),
    ({"min_tls_version": "1.1", "tls_1_2_only": "off"}, "min_tls_version",
     [("min-tls-version-below-1.2", False, "medium")]),
]  # fmt: skip


@pytest.mark.parametrize(("settings", "check", "expected"), SETTING_CASES)
async def test_tls_and_hsts_settings(
    cf: FakeCloudflare, settings: dict[str, Any], check: str, expected: list[tuple[str, bool, str]]
) -> None:
    """HSTS scope as hstspreload.org requires, 0-RTT replay, opportunistic encryption, weak ciphers."""
    out = await audit(cf, settings=settings)
    assert rows(out, check) == expected


async def test_weak_ciphers_are_named(cf: FakeCloudflare) -> None:
    """The ciphers finding lists exactly the weak suites."""
    out = await audit(cf, settings={"ciphers": ["ECDHE-RSA-AES128-GCM-SHA256", "AES256-SHA", "DES-CBC3-SHA"]})
    (row,) = [r for r in out["findings"] if r["check"] == "ciphers"]
    assert row["observed"] == '["AES256-SHA", "DES-CBC3-SHA"]'
    assert row["detail"] == "2 of 3 allowed cipher suites are weak"


# -- Universal SSL and certificate packs ----------------------------------------------------------


def pack(days: float, status: str = "active", kind: str = "universal") -> FakeCertificatePack:
    hosts = ("example.com", "*.example.com")
    expires = datetime.now(UTC) + timedelta(days=days)
    return FakeCertificatePack(hosts, (FakeCertificate(hosts, expires, status),), kind, status)


CERT_CASES = [
    # (zone keywords, universal_ssl rows, certificates rows)
    ({}, [("universal-ssl-enabled", True, "info")], [("certificates-valid", True, "info")]),
    (
        {"universal_ssl": False, "certificate_packs": []},
        [("universal-ssl-disabled", False, "high")],
        [("certificates-none-active", False, "high")],
    ),
    (
        {"universal_ssl": False, "certificate_packs": [pack(200, kind="advanced")]},
        [("universal-ssl-disabled-other-certificate", True, "info")],
        [("certificates-valid", True, "info")],
    ),
    ({"certificate_packs": [pack(5)]}, [("universal-ssl-enabled", True, "info")],
     [("certificate-expiring", False, "medium")]),
    ({"certificate_packs": [pack(-1)]}, [("universal-ssl-enabled", True, "info")],
     [("certificate-expired", False, "high")]),
    (
        {"certificate_packs": [pack(80), pack(0, "validation_timed_out", "advanced")]},
        [("universal-ssl-enabled", True, "info")],
        [("certificate-pack-failed", False, "medium")],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("zone", "universal", "certificates"), CERT_CASES)
async def test_universal_ssl_and_certificates(
    cf: FakeCloudflare,
    zone: dict[str, Any],
    universal: list[tuple[str, bool, str]],
    certificates: list[tuple[str, bool, str]],
) -> None:
    """Universal SSL off without another certificate, failed packs and (near) expiry are findings."""
    out = await audit(cf, **zone)
    assert rows(out, "universal_ssl") == universal
    assert rows(out, "certificates") == certificates


async def test_certificate_expiry_in_zone_row(cf: FakeCloudflare) -> None:
    """The zones section carries the days until the soonest expiry and the pack count."""
    out = await audit(cf, certificate_packs=[pack(45), universal_pack("example.com", 80)])
    z = out["zones"][0]
    assert 43 <= z["certificate_days_left"] <= 45 and z["certificate_packs"] == 2
    assert (z["universal_ssl"], z["origin_pulls"]) == (True, True)


# -- the origin: Authenticated Origin Pulls, SPF, per-hostname TLS ---------------------------------

PROXIED = FakeRecord("A", "www.example.com", "192.0.2.10", proxied=True)

ORIGIN_CASES = [
    # (records, origin_pulls, spf_origin rows, origin_pulls rows)
    ([PROXIED], True, [("spf-no-origin-leak", True, "info")], [("origin-pulls-on", True, "info")]),
    ([PROXIED], False, [("spf-no-origin-leak", True, "info")], [("origin-pulls-off", False, "low")]),
    (  # an unproxied record on the proxied origin: the origin is public
        [PROXIED, FakeRecord("A", "direct.example.com", "192.0.2.10")],
        False,
        [("spf-no-origin-leak", True, "info")],
        [("origin-pulls-off-origin-public", False, "medium")],
    ),
    (  # SPF authorises the proxied origin's network (quoted TXT content, as the API returns it)
        [
            PROXIED,
            FakeRecord("TXT", "example.com", '"v=spf1 ip4:192.0.2.0/24 include:_spf.example.net ~all"'),
        ],
        False,
        [("spf-leaks-origin", False, "medium")],
        [("origin-pulls-off-origin-public", False, "medium")],
    ),
    (  # split into two strings, joined as RFC 7208 §3.3 says; the address in the second
        [PROXIED, FakeRecord("TXT", "example.com", '"v=spf1 ip4:198.51.100.7" " ip4:192.0.2.10 -all"')],
        True,
        [("spf-leaks-origin", False, "medium")],
        [("origin-pulls-on", True, "info")],
    ),
    (  # a "-" qualifier authorises nothing; SPF at a subdomain is not the zone's
        [
            PROXIED,
            FakeRecord("TXT", "example.com", "v=spf1 -ip4:192.0.2.10 mx -all"),
            FakeRecord("TXT", "mail.example.com", "v=spf1 ip4:192.0.2.10 -all"),
        ],
        True,
        [("spf-no-origin-leak", True, "info")],
        [("origin-pulls-on", True, "info")],
    ),
    (  # ip6, another spelling of the same address
        [
            FakeRecord("AAAA", "www.example.com", "2001:db8::10", proxied=True),
            FakeRecord("TXT", "example.com", "v=spf1 ip6:2001:DB8:0:0::10 -all"),
        ],
        True,
        [("spf-leaks-origin", False, "medium")],
        [("origin-pulls-on", True, "info")],
    ),
]


@pytest.mark.parametrize(("records", "pulls", "spf", "origin"), ORIGIN_CASES)
async def test_origin_exposure_and_authenticated_origin_pulls(
    cf: FakeCloudflare,
    records: list[FakeRecord],
    pulls: bool,
    spf: list[tuple[str, bool, str]],
    origin: list[tuple[str, bool, str]],
) -> None:
    """ip4:/ip6: in the apex SPF record leak a proxied origin; without AOP a public origin is medium."""
    out = await audit(cf, records=records, origin_pulls=pulls)
    assert rows(out, "spf_origin") == spf
    assert rows(out, "origin_pulls") == origin


async def test_spf_leak_names_the_term_and_host(cf: FakeCloudflare) -> None:
    """The SPF finding says which term covers which proxied host."""
    out = await audit(cf, records=[PROXIED, FakeRecord("TXT", "example.com", "v=spf1 +ip4:192.0.2.10 -all")])
    (row,) = [r for r in out["findings"] if r["check"] == "spf_origin"]
    assert row["observed"] == '["+ip4:192.0.2.10 covers 192.0.2.10 (www.example.com, proxied)"]'


HOSTNAME_CASES = [
    ({}, [("hostname-tls-no-weak-overrides", True, "info")]),
    ({"min_tls_version": {"api.example.com": "1.2"}}, [("hostname-tls-no-weak-overrides", True, "info")]),
    (
        {
            "min_tls_version": {
                "legacy.example.com": "1.0",
                "old.example.com": "1.1",
                "api.example.com": "1.3",
            }
        },
        [
            ("hostname-min-tls-version-below-1.2", False, "medium"),
            ("hostname-min-tls-version-below-1.2", False, "medium"),
        ],
    ),
    ({"ciphers": {"legacy.example.com": ["AES128-SHA"]}}, [("hostname-ciphers-weak", False, "low")]),
]


@pytest.mark.parametrize(("overrides", "expected"), HOSTNAME_CASES)
async def test_per_hostname_tls_overrides(
    cf: FakeCloudflare, overrides: dict[str, dict[str, Any]], expected: list[tuple[str, bool, str]]
) -> None:
    """A hostname that overrides the zone with TLS 1.0/1.1 or weak ciphers is a finding."""
    out = await audit(cf, hostname_settings=overrides)
    assert rows(out, "hostname_tls") == expected


# -- every finding explains itself ----------------------------------------------------------------


async def test_every_finding_has_an_id_severity_and_explanation(cf: FakeCloudflare) -> None:
    """Every row, failing, passing or unknown, carries a result id, a severity and its check's explanation."""
    cf.permissions.discard("SSL and Certificates Read")
    out = await audit(
        cf,
        settings={"ssl": "flexible", "0rtt": "on"},
        records=[PROXIED, FakeRecord("A", "direct.example.com", "192.0.2.10")],
        rulesets={},
    )
    assert {r["check"] for r in out["findings"]} == set(EXPLANATIONS)
    for r in out["findings"]:
        assert re.fullmatch(r"[a-z0-9.]+(-[a-z0-9.]+)*", r["result_id"]), r
        assert r["severity"] in ("critical", "high", "medium", "low", "info")
        assert r["explanation"] == EXPLANATIONS[r["check"]] and r["explanation"].endswith(".")
        assert "\n" not in r["explanation"] and len(r["explanation"]) <= 160
    unknown = [r for r in out["findings"] if r["result_id"].endswith("-unknown")]
    assert {r["check"] for r in unknown} == {"universal_ssl", "certificates", "origin_pulls", "hostname_tls"}
    assert all("'SSL and Certificates Read' permission" in r["detail"] for r in unknown)
