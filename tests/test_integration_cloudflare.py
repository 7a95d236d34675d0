"""The cloudflare integration against the fake Cloudflare API on 127.0.0.1 (HTTPS, trustme CA)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import intgkit
from intgkit import Status
from intgkit.integrations._net import client_session
from intgkit.integrations.cloudflare import (
    Cloudflare,
    CloudflareAPIError,
    CloudflareRateLimited,
    ZoneNotFoundError,
    integration,
)
from intgkit.testing._cloudflare import FakeCloudflare, FakeRecord

TOKEN = "cf-test-token-7c1e"
PLANTED = "cfPLANTED-zq8Xw3-do-not-leak-41f0"

ALL_CHECKS = {
    "ssl",
    "min_tls_version",
    "always_use_https",
    "hsts",
    "nosniff",
    "security_level",
    "tls_1_3",
    "automatic_https_rewrites",
    "browser_check",
    "zone_paused",
    "dnssec",
    "waf",
    "dns_proxied",
    "hsts_include_subdomains",
    "hsts_preload",
    "0rtt",
    "opportunistic_encryption",
    "ciphers",
    "waf_managed_cloudflare",
    "waf_managed_owasp",
    "spf_origin",
    "origin_pulls",
    "universal_ssl",
    "certificates",
    "hostname_tls",
}


@pytest.fixture
async def cf() -> AsyncIterator[FakeCloudflare]:
    async with FakeCloudflare(token=TOKEN) as server:
        yield server


def client(cf: FakeCloudflare, **kw: Any) -> Cloudflare:
    kw.setdefault("token", TOKEN)
    # tests here audit up to ~1,000 requests' worth of zones in one call, more than the default
    # budget lets go at once (550); the budget itself is tested in test_cloudflare_policies.py
    kw.setdefault("budget", intgkit.RateLimit(2000, per=1.0))
    return Cloudflare(api_base=cf.base_url, ca_bundle=cf.ca_bundle, **kw)


def by_check(rows: list[dict[str, Any]], zone: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["zone"] == zone:
            out.setdefault(r["check"], []).append(r)
    return out


# -- the fake API itself ------------------------------------------------------------------------


async def test_fake_paginates_and_authenticates(cf: FakeCloudflare) -> None:
    """The fake pages 45 zones as 20/20/5 by default, clamps per_page to 50 and checks the bearer."""
    for i in range(45):
        cf.add_zone(f"z{i:02d}.test")
    async with client_session(cafile=cf.ca_bundle) as s:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with s.get(cf.base_url + "/zones", params={"page": 3}, headers=auth) as r:
            body = await r.json()
        assert body["success"] is True and [z["name"] for z in body["result"]] == [
            f"z{i}.test" for i in range(40, 45)
        ]
        assert body["result_info"] == {
            "page": 3,
            "per_page": 20,
            "count": 5,
            "total_count": 45,
            "total_pages": 3,
        }
        async with s.get(cf.base_url + "/zones", params={"per_page": 100}, headers=auth) as r:
            assert (await r.json())["result_info"]["per_page"] == 50
        async with s.get(cf.base_url + "/zones", headers={"Authorization": "Bearer wrong"}) as r:
            # a token Cloudflare does not accept: 9109 (cert-manager/cert-manager#4465, 403 as in
            # jeessy2/ddns-go#1341)
            assert r.status == 403
            assert (await r.json())["errors"] == [{"code": 9109, "message": "Invalid access token"}]
        async with s.get(cf.base_url + "/zones") as r:
            assert r.status == 400 and (await r.json())["errors"][0]["code"] == 9106
        cf.permissions.discard("DNS Read")
        zid = cf.zones[0].id
        async with s.get(f"{cf.base_url}/zones/{zid}/dns_records", headers=auth) as r:
            # a valid token without the endpoint's permission: 403 + 10000
            # (cloudflare/terraform-provider-cloudflare#1533)
            assert r.status == 403
            assert (await r.json())["errors"] == [{"code": 10000, "message": "Authentication error"}]
        async with s.get(f"{cf.base_url}/zones/{zid}/settings/ssl", headers=auth) as r:
            assert r.status == 200
    assert [(q.has_authorization, q.token_valid) for q in cf.requests] == [
        (True, True),
        (True, True),
        (True, False),
        (False, False),
        (True, True),
        (True, True),
    ]


# -- listing zones -------------------------------------------------------------------------------


async def test_all_zones_over_three_pages(cf: FakeCloudflare) -> None:
    """Target None audits all 45 zones, read over 3 pages of 20, each zone with every check."""
    for i in range(45):
        cf.add_zone(f"z{i:02d}.test")
    out = await client(cf, zones_per_page=20).fetch(None)
    listing = [q for q in cf.requests if q.path == "/client/v4/zones"]
    assert [(q.query["page"], q.query["per_page"]) for q in listing] == [
        ("1", "20"),
        ("2", "20"),
        ("3", "20"),
    ]
    assert sorted(z["zone"] for z in out["zones"]) == [f"z{i:02d}.test" for i in range(45)]
    assert len(out["findings"]) == 45 * len(ALL_CHECKS)
    assert {r["check"] for r in out["findings"]} == ALL_CHECKS
    assert all(r["passed"] for r in out["findings"])  # secure defaults pass everything
    assert len(out["settings"]) == 45 * 12


async def test_listing_stops_at_total_pages(cf: FakeCloudflare) -> None:
    """40 zones at 20 per page take exactly 2 requests: total_pages ends the loop, not an empty page."""
    for i in range(40):
        cf.add_zone(f"z{i:02d}.test")
    out = await client(cf, zones_per_page=20).fetch(None)
    assert [q.query["page"] for q in cf.requests if q.path == "/client/v4/zones"] == ["1", "2"]
    assert len(out["zones"]) == 40


async def test_default_page_size_is_the_maximum(cf: FakeCloudflare) -> None:
    """By default zones are listed 50 per page, so 45 zones take one request."""
    for i in range(45):
        cf.add_zone(f"z{i:02d}.test")
    out = await client(cf).fetch(None)
    listing = [q for q in cf.requests if q.path == "/client/v4/zones"]
    assert [q.query["per_page"] for q in listing] == ["50"] and len(out["zones"]) == 45


async def test_target_filters_one_zone(cf: FakeCloudflare) -> None:
    """A target zone (even given as a URL) is asked for by name, and only that zone is read."""
    cf.add_zone("a.test")
    b = cf.add_zone("b.test")
    out = await client(cf).fetch("https://B.test/")
    assert [z["zone"] for z in out["zones"]] == ["b.test"]
    assert {r["target"] for r in out["findings"]} == {"b.test"}
    listing = [q for q in cf.requests if q.path == "/client/v4/zones"]
    assert [q.query.get("name") for q in listing] == ["b.test"]
    zone_paths = {q.path.split("/")[4] for q in cf.requests if q.path.startswith("/client/v4/zones/")}
    assert zone_paths == {b.id}


async def test_unknown_zone_is_a_clear_error(cf: FakeCloudflare) -> None:
    """A zone the token cannot see is an error naming the host and the names tried, not an empty report."""
    cf.add_zone("a.test")
    with pytest.raises(
        ZoneNotFoundError, match=r"no zone for 'www\.nope\.test' .* none of 'www\.nope\.test', 'nope\.test'"
    ):
        await client(cf).fetch("www.nope.test")


@pytest.mark.parametrize(
    ("target", "zone"),
    [
        ("www.example.com", "example.com"),
        ("https://www.example.com/x", "example.com"),
        ("WWW.Example.COM.", "example.com"),
        ("example.com", "example.com"),
        ("a.b.shop.example.com", "shop.example.com"),  # a subdomain zone of its own wins
        ("shop.example.com", "shop.example.com"),
    ],
)
async def test_host_or_url_target_audits_its_zone(cf: FakeCloudflare, target: str, zone: str) -> None:
    """A host inside a zone or a URL audits the longest zone name it ends with."""
    cf.add_zone("example.com")
    cf.add_zone("shop.example.com", settings={"ssl": "off"})
    cf.add_zone("other.com")
    out = await client(cf).fetch(target)
    assert [z["zone"] for z in out["zones"]] == [zone]
    assert {r["target"] for r in out["findings"]} == {zone}
    zone_paths = {q.path.split("/")[4] for q in cf.requests if q.path.startswith("/client/v4/zones/")}
    assert zone_paths == {cf.zone(zone).id}


# -- the rules, one by one -----------------------------------------------------------------------

SETTING_CASES = [
    # (settings override, check, result_id, passed, severity), from the notes' §4 table
    ({"ssl": "off"}, "ssl", "ssl-off", False, "critical"),
    ({"ssl": "flexible"}, "ssl", "ssl-flexible", False, "high"),
    ({"ssl": "full"}, "ssl", "ssl-full", False, "medium"),
    ({"ssl": "strict"}, "ssl", "ssl-strict", True, "info"),
    ({"min_tls_version": "1.0"}, "min_tls_version", "min-tls-version-below-1.2", False, "medium"),
    ({"min_tls_version": "1.1"}, "min_tls_version", "min-tls-version-below-1.2", False, "medium"),
    ({"min_tls_version": "1.2"}, "min_tls_version", "min-tls-version-ok", True, "info"),
    ({"min_tls_version": "1.3"}, "min_tls_version", "min-tls-version-ok", True, "info"),
    ({"always_use_https": "off"}, "always_use_https", "always-use-https-off", False, "medium"),
    (
        {"security_header": {"strict_transport_security": {"enabled": False, "max_age": 0, "nosniff": True}}},
        "hsts",
        "hsts-disabled",
        False,
        "medium",
    ),
    (
        {
            "security_header": {
                "strict_transport_security": {"enabled": True, "max_age": 15551999, "nosniff": True}
            }
        },
        "hsts",
        "hsts-max-age-too-short",
        False,
        "low",
    ),
    (
        {
            "security_header": {
                "strict_transport_security": {"enabled": True, "max_age": 15552000, "nosniff": True}
            }
        },
        "hsts",
        "hsts-enabled",
        True,
        "info",
    ),
    (
        {
            "security_header": {
                "strict_transport_security": {"enabled": True, "max_age": 31536000, "nosniff": False}
            }
        },
        "nosniff",
        "nosniff-disabled",
        False,
        "low",
    ),
    ({"security_level": "off"}, "security_level", "security-level-off", False, "medium"),
    (
        {"security_level": "essentially_off"},
        "security_level",
        "security-level-essentially-off",
        False,
        "medium",
    ),
    ({"security_level": "under_attack"}, "security_level", "security-level-under-attack", True, "info"),
    ({"security_level": "high"}, "security_level", "security-level-ok", True, "info"),
    ({"tls_1_3": "off"}, "tls_1_3", "tls-1-3-off", False, "low"),
    ({"tls_1_3": "zrt"}, "tls_1_3", "tls-1-3-on", True, "info"),
    (
        {"automatic_https_rewrites": "off"},
        "automatic_https_rewrites",
        "automatic-https-rewrites-off",
        False,
        "low",
    ),
    ({"browser_check": "off"}, "browser_check", "browser-check-off", False, "low"),
]


@pytest.mark.parametrize(("settings", "check", "result_id", "passed", "severity"), SETTING_CASES)
async def test_setting_rules(
    cf: FakeCloudflare, settings: dict[str, Any], check: str, result_id: str, passed: bool, severity: str
) -> None:
    """Each zone-setting rule gives the result and severity of the reference table."""
    cf.add_zone("example.com", settings=settings)
    out = await client(cf).fetch("example.com")
    (row,) = by_check(out["findings"], "example.com")[check]
    assert (row["result_id"], row["passed"], row["severity"]) == (result_id, passed, severity)
    # these HSTS cases leave include_subdomains / preload out, so those rows may fail too
    also = {"hsts_include_subdomains", "hsts_preload"} if "security_header" in settings else set()
    others = [r for r in out["findings"] if r["check"] != check and r["check"] not in also]
    assert all(r["passed"] for r in others), "only the changed setting may fail"


@pytest.mark.parametrize(
    ("zone_kw", "check", "result_id", "passed", "severity"),
    [
        ({"paused": True}, "zone_paused", "zone-paused", False, "high"),
        ({"dnssec": "pending"}, "dnssec", "dnssec-not-active", False, "low"),
        ({"dnssec": "disabled"}, "dnssec", "dnssec-not-active", False, "low"),
        ({"dnssec": "active"}, "dnssec", "dnssec-active", True, "info"),
        ({"rulesets": {}}, "waf", "waf-no-rules", False, "info"),
        (
            {"rulesets": {"http_ratelimit": [{"action": "block", "expression": "true"}]}},
            "waf",
            "waf-no-rules",
            False,
            "info",
        ),
        (
            {
                "rulesets": {
                    "http_request_firewall_custom": [
                        {"action": "block", "expression": "true", "enabled": False}
                    ]
                }
            },
            "waf",
            "waf-no-rules",
            False,
            "info",
        ),
        (
            {"rulesets": {"http_request_firewall_managed": [{"action": "execute", "expression": "true"}]}},
            "waf",
            "waf-rules-present",
            True,
            "info",
        ),
    ],
)
async def test_zone_rules(
    cf: FakeCloudflare, zone_kw: dict[str, Any], check: str, result_id: str, passed: bool, severity: str
) -> None:
    """Paused zones, DNSSEC status and WAF rule presence (404 entrypoints = empty phases)."""
    cf.add_zone("example.com", **zone_kw)
    out = await client(cf).fetch("example.com")
    (row,) = by_check(out["findings"], "example.com")[check]
    assert (row["result_id"], row["passed"], row["severity"]) == (result_id, passed, severity)


async def test_waf_counts_in_zone_facts(cf: FakeCloudflare) -> None:
    """Enabled rules per phase are counted in the zones section; absent phases count 0."""
    cf.add_zone(
        "example.com",
        rulesets={
            "http_request_firewall_custom": [
                {"action": "block", "expression": "a"},
                {"action": "log", "expression": "b", "enabled": False},
            ],
            "http_ratelimit": [{"action": "block", "expression": "c"}],
        },
    )
    out = await client(cf).fetch("example.com")
    (z,) = out["zones"]
    assert (z["custom_rules"], z["managed_rules"], z["ratelimit_rules"]) == (1, 0, 1)
    assert (z["status"], z["paused"], z["dnssec_status"], z["plan"]) == (
        "active",
        False,
        "active",
        "Free Website",
    )
    entry = [q for q in cf.requests if "/entrypoint" in q.path]
    assert sorted(q.status for q in entry) == [200, 200, 404]


async def test_dns_origin_exposure(cf: FakeCloudflare) -> None:
    """Unproxied A/AAAA/CNAME records are info, medium when the same origin also serves proxied names."""
    cf.add_zone(
        "example.com",
        records=[
            FakeRecord("A", "www.example.com", "192.0.2.10", proxied=True),
            FakeRecord("A", "direct.example.com", "192.0.2.10"),  # same origin, bypasses the proxy
            FakeRecord("AAAA", "v6.example.com", "2001:db8::1", proxied=True),
            FakeRecord("AAAA", "v6direct.example.com", "2001:DB8:0::1"),  # same address, other spelling
            FakeRecord("A", "mail.example.com", "198.51.100.7"),  # unproxied, but its own address
            FakeRecord("CNAME", "shop.example.com", "shops.example.net", proxied=True),
            FakeRecord("CNAME", "shop2.example.com", "Shops.example.net."),
            FakeRecord("MX", "example.com", "mail.example.com"),  # not an origin record
            FakeRecord("TXT", "example.com", "v=spf1 -all"),
        ],
    )
    out = await client(cf).fetch("example.com")
    rows = by_check(out["findings"], "example.com")["dns_proxied"]
    got = sorted((r["observed"].split()[1], r["result_id"], r["severity"]) for r in rows)
    assert got == [
        ("direct.example.com", "dns-unproxied-shared-origin", "medium"),
        ("mail.example.com", "dns-unproxied-origin", "info"),
        ("shop2.example.com", "dns-unproxied-shared-origin", "medium"),
        ("v6direct.example.com", "dns-unproxied-shared-origin", "medium"),
    ]
    assert not any(r["passed"] for r in rows)
    assert len(out["dns_records"]) == 9 and out["zones"][0]["dns_records"] == 9


async def test_all_proxied_passes(cf: FakeCloudflare) -> None:
    """A zone whose origin records are all proxied gets one passing dns_proxied row."""
    cf.add_zone("example.com", records=[FakeRecord("A", "www.example.com", "192.0.2.1", proxied=True)])
    out = await client(cf).fetch("example.com")
    (row,) = by_check(out["findings"], "example.com")["dns_proxied"]
    assert (row["result_id"], row["passed"]) == ("dns-origins-proxied", True)


async def test_dns_records_are_paginated(cf: FakeCloudflare) -> None:
    """230 records are read over 3 pages of 100."""
    cf.add_zone(
        "example.com",
        records=[
            FakeRecord("A", f"h{i}.example.com", f"10.0.{i // 250}.{i % 250}", proxied=True)
            for i in range(230)
        ],
    )
    out = await client(cf).fetch("example.com")
    pages = [q.query["page"] for q in cf.requests if q.path.endswith("/dns_records")]
    assert pages == ["1", "2", "3"] and len(out["dns_records"]) == 230


async def test_unreadable_checks_become_unknown_findings(cf: FakeCloudflare) -> None:
    """A missing setting (404) or a denied endpoint is an info '-unknown' finding; the rest still reports."""
    z = cf.add_zone("example.com", drop_settings=["ssl"])
    cf.fail(f"/zones/{z.id}/dnssec", 403, 9109, "Unauthorized to access requested resource")
    out = await client(cf).fetch("example.com")
    checks = by_check(out["findings"], "example.com")
    (ssl,) = checks["ssl"]
    (dnssec,) = checks["dnssec"]
    assert (ssl["result_id"], ssl["passed"], ssl["severity"]) == ("ssl-unknown", False, "info")
    assert f"GET /zones/{z.id}/settings/ssl: HTTP 404" in ssl["detail"]
    assert (dnssec["result_id"], dnssec["severity"]) == ("dnssec-unknown", "info")
    assert "lacks the 'DNS Read' permission" in dnssec["detail"]
    assert "HTTP 403" in dnssec["detail"] and "[9109] Unauthorized" in dnssec["detail"]
    assert set(checks) == ALL_CHECKS
    assert {s["setting_id"] for s in out["settings"]} == {
        "min_tls_version",
        "always_use_https",
        "security_header",
        "security_level",
        "tls_1_3",
        "automatic_https_rewrites",
        "browser_check",
        "0rtt",
        "opportunistic_encryption",
        "ciphers",
        "tls_1_2_only",
    }
    assert out["zones"][0]["dnssec_status"] is None


# which checks each permission group feeds (Cloudflare's permission names)
PERMISSION_CHECKS = {
    "Zone Settings Read": {
        "ssl",
        "min_tls_version",
        "always_use_https",
        "hsts",
        "nosniff",
        "security_level",
        "tls_1_3",
        "automatic_https_rewrites",
        "browser_check",
        "hsts_include_subdomains",
        "hsts_preload",
        "0rtt",
        "opportunistic_encryption",
        "ciphers",
    },
    "DNS Read": {"dnssec", "dns_proxied", "spf_origin"},
    "Zone WAF Read": {"waf", "waf_managed_cloudflare", "waf_managed_owasp"},
    "SSL and Certificates Read": {"universal_ssl", "certificates", "origin_pulls", "hostname_tls"},
}


@pytest.mark.parametrize("permission", sorted(PERMISSION_CHECKS))
async def test_missing_permission_is_unknown_naming_it(cf: FakeCloudflare, permission: str) -> None:
    """A token lacking one permission (HTTP 403, code 10000): '-unknown' findings naming it, the call ok."""
    cf.add_zone("example.com")
    cf.permissions.discard(permission)
    obj = client(cf)
    reg = intgkit.IntegrationRegistry(None)
    reg.register(obj)
    (r,) = await intgkit.IntegrationRunner(reg, timeout=5).arun([obj.name], targets=["example.com"])
    assert r.status is Status.OK, r.error
    rows = r.section("findings").rows
    unknown = {row["check"] for row in rows if row["result_id"].endswith("-unknown")}
    assert unknown == PERMISSION_CHECKS[permission]
    for row in rows:
        if row["check"] in unknown:
            assert (row["passed"], row["severity"]) == (False, "info")
            assert f"lacks the {permission!r} permission" in row["detail"]
            assert f"Zone > {permission.removesuffix(' Read')} > Read" in row["detail"]
            assert "[10000] Authentication error" in row["detail"]
            assert row["expected"] == f"token permission {permission!r}"
        else:
            assert row["passed"], row


async def test_fact_rows_and_truncation(cf: FakeCloudflare) -> None:
    """Settings carry JSON text values; outside text is cut to 1024 characters."""
    cf.add_zone("example.com", records=[FakeRecord("TXT", "big.example.com", "x" * 5000)])
    out = await client(cf).fetch("example.com")
    sh = next(s for s in out["settings"] if s["setting_id"] == "security_header")
    assert json.loads(sh["value"])["strict_transport_security"]["max_age"] == 31536000
    assert (sh["zone"], sh["editable"], sh["modified_on"]) == (
        "example.com",
        True,
        "2024-01-01T00:00:00.000000Z",
    )
    (rec,) = out["dns_records"]
    assert len(rec["content"]) == 1024 and rec["content"].endswith("…")
    assert set(rec) == {"zone", "id", "type", "name", "content", "proxied", "proxiable", "ttl"}


# -- the token, errors and rate limits ------------------------------------------------------------


async def test_bad_token_is_an_error_without_the_token(
    cf: FakeCloudflare, logs: list[dict[str, object]]
) -> None:
    """A refused token is an error result naming endpoint, status and code; the token appears nowhere."""
    cf.add_zone("example.com")
    obj = client(cf, token=PLANTED)
    reg = intgkit.IntegrationRegistry(None)
    reg.register(obj)
    results = await intgkit.IntegrationRunner(reg, timeout=5).arun([obj.name], targets=["example.com"])
    (r,) = results
    assert r.status is Status.ERROR and r.error_type == "CloudflareAPIError"
    assert r.error is not None
    assert r.error.startswith("GET /zones: HTTP 403, Cloudflare errors: [9109] Invalid access token; ")
    assert "the token was refused" in r.error and "'Zone Read' permission" in r.error
    blob = " ".join([repr(r), str(r.error), repr(r.sections), repr(logs), repr(obj), repr(results)])
    assert PLANTED not in blob
    assert [(q.path, q.has_authorization, q.token_valid) for q in cf.requests] == [
        ("/client/v4/zones", True, False)
    ]


async def test_token_goes_only_to_the_api_base(cf: FakeCloudflare) -> None:
    """Every request carries the valid bearer and goes to paths under the configured base."""
    cf.add_zone("example.com")
    await client(cf).fetch(None)
    # zones, 12 settings, records, dnssec, 3 phases, universal ssl, packs, origin pulls, 2 hostname settings
    assert len(cf.requests) == 1 + 12 + 1 + 1 + 3 + 1 + 1 + 1 + 2
    assert all(q.has_authorization and q.token_valid and q.method == "GET" for q in cf.requests)
    assert all(q.path.startswith("/client/v4/") for q in cf.requests)


async def test_rate_limit_waits_retry_after_then_succeeds(
    cf: FakeCloudflare, logs: list[dict[str, object]]
) -> None:
    """A 429 with Retry-After 1 is waited out (about 1 s) and the same request then succeeds."""
    cf.add_zone("example.com")
    cf.rate_limit(1, retry_after=1)
    t0 = time.monotonic()
    out = await client(cf).fetch("example.com")
    elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 5
    assert [(q.path, q.status) for q in cf.requests[:2]] == [
        ("/client/v4/zones", 429),
        ("/client/v4/zones", 200),
    ]
    assert len(out["zones"]) == 1
    events = [e for e in logs if e["event"] == "cloudflare_retry"]
    assert events and events[0]["endpoint"] == "GET /zones" and events[0]["wait_s"] == 1.0


async def test_rate_limit_beyond_the_budget_fails_at_once(cf: FakeCloudflare) -> None:
    """A Retry-After that does not fit the time budget fails immediately with 'rate limited'."""
    cf.add_zone("example.com")
    cf.rate_limit(1, retry_after=30)
    t0 = time.monotonic()
    with pytest.raises(
        CloudflareRateLimited,
        match=r"rate limited .* GET /zones \(HTTP 429, Retry-After '30'\)"
        r": retry not started: waiting 30 s .* left of the call.s time limit",
    ):
        await client(cf, timeout=5, max_retry_wait=600).fetch("example.com")
    assert time.monotonic() - t0 < 1.5
    assert len(cf.requests) == 1


async def test_rate_limit_beyond_max_retry_wait_via_runner(cf: FakeCloudflare) -> None:
    """Through the runner, a Retry-After above max_retry_wait is an error result saying 'rate limited'."""
    cf.add_zone("example.com")
    cf.rate_limit(100, retry_after=10)
    obj = client(cf, timeout=None, max_retry_wait=2)
    reg = intgkit.IntegrationRegistry(None)
    reg.register(obj)
    (r,) = await intgkit.IntegrationRunner(reg, timeout=5).arun([obj.name], targets=["example.com"])
    assert r.status is Status.ERROR and r.error_type == "CloudflareRateLimited"
    assert r.error is not None and "rate limited" in r.error and "more than max_retry_after=2 s" in r.error
    assert r.duration_s is not None and r.duration_s < 1.5


async def test_plain_http_to_a_remote_host_is_refused_before_connecting() -> None:
    """An http:// base on a non-loopback host fails at once, naming the https rule, sending nothing."""
    obj = Cloudflare(token=PLANTED, api_base="http://cloudflare-api.invalid/client/v4")
    t0 = time.monotonic()
    with pytest.raises(
        ValueError, match=r"refusing to send the Cloudflare API token over plain http"
    ) as info:
        await obj.fetch(None)
    assert time.monotonic() - t0 < 0.2
    assert "https://" in str(info.value) and PLANTED not in str(info.value)


async def test_plain_http_to_loopback_is_allowed() -> None:
    """http:// is accepted for a loopback test server (and only there)."""
    async with FakeCloudflare(token=TOKEN, tls=False) as server:
        server.add_zone("example.com")
        assert server.base_url.startswith("http://127.0.0.1:")
        out = await Cloudflare(token=TOKEN, api_base=server.base_url).fetch("example.com")
    assert [z["zone"] for z in out["zones"]] == ["example.com"]


async def test_untrusted_certificate_is_a_clear_error(cf: FakeCloudflare) -> None:
    """Without the fake's CA the TLS handshake fails and the error names endpoint and host."""
    cf.add_zone("example.com")
    with pytest.raises(
        CloudflareAPIError, match=r"GET /zones: could not reach the Cloudflare API at https://127"
    ):
        await Cloudflare(token=TOKEN, api_base=cf.base_url).fetch("example.com")
    assert cf.requests == []


# -- configuration, packaging, the runner ---------------------------------------------------------


def test_declaration_and_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Name, title, settings (token secret and required), one breaker, and is_configured from env."""
    assert (integration.name, integration.title, integration.breaker_per_target) == (
        "cloudflare",
        "Cloudflare zones",
        False,
    )
    assert [(s.name, s.required, s.is_secret) for s in integration.settings] == [
        ("CLOUDFLARE_API_TOKEN", True, True),
        ("CLOUDFLARE_API_BASE", False, False),
        ("INTGKIT_CA_BUNDLE", False, False),
    ]
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    assert not integration.is_configured()
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", PLANTED)
    assert integration.is_configured()
    assert PLANTED not in repr(Cloudflare(token=PLANTED))


async def test_settings_from_environment(cf: FakeCloudflare, monkeypatch: pytest.MonkeyPatch) -> None:
    """The module's integration object reads token, base and CA bundle from the environment."""
    cf.add_zone("example.com", settings={"ssl": "off"})
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_API_BASE", cf.base_url)
    monkeypatch.setenv("INTGKIT_CA_BUNDLE", str(cf.ca_bundle))
    out = await integration.fetch("example.com")
    assert by_check(out["findings"], "example.com")["ssl"][0]["result_id"] == "ssl-off"


def test_import_does_not_load_aiohttp() -> None:
    """Importing the integration and the fake server keeps aiohttp, trustme and pandas unloaded."""
    code = (
        "import sys, intgkit.integrations.cloudflare, intgkit.testing._cloudflare; "
        "print(sorted(m for m in ('aiohttp', 'trustme') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_through_the_runner(cf: FakeCloudflare) -> None:
    """The runner gives one ok result per zone target and one error for an unknown zone."""
    cf.add_zone("good.test")
    cf.add_zone("bad.test", settings={"ssl": "flexible", "min_tls_version": "1.0"}, paused=True)
    obj = client(cf)
    reg = intgkit.IntegrationRegistry(None)
    reg.register(obj)
    results = await intgkit.IntegrationRunner(reg, timeout=5).arun(
        [obj.name], targets=["good.test", "bad.test", "missing.test"]
    )
    assert [(r.target, r.status) for r in results] == [
        ("good.test", Status.OK),
        ("bad.test", Status.OK),
        ("missing.test", Status.ERROR),
    ]
    assert results[2].error_type == "ZoneNotFoundError"
    failed = sorted(
        (r["check"], r["severity"]) for r in results[1].section("findings").rows if not r["passed"]
    )
    assert failed == [("min_tls_version", "medium"), ("ssl", "high"), ("zone_paused", "high")]
    assert {s.name for s in results[0].sections} == {"findings", "zones", "settings", "dns_records"}
    frame = results.to_frame("findings")
    bad = frame[(frame["target"] == "bad.test") & ~frame["passed"].astype(bool)]
    assert sorted(bad["check"]) == ["min_tls_version", "ssl", "zone_paused"]


async def test_zone_listing_refused_fails_the_call(cf: FakeCloudflare) -> None:
    """Without Zone Read nothing can be audited: the call fails naming the permission (no group)."""
    cf.add_zone("example.com")
    cf.permissions.discard("Zone Read")
    with pytest.raises(CloudflareAPIError) as info:
        await client(cf).fetch(None)
    assert type(info.value) is CloudflareAPIError and info.value.is_denied
    assert str(info.value).startswith(
        "GET /zones: HTTP 403, Cloudflare errors: [10000] Authentication error; "
    )
    assert "'Zone Read' permission (Zone > Zone > Read)" in str(info.value)


async def test_endless_rate_limit_gives_up_after_bounded_attempts(cf: FakeCloudflare) -> None:
    """Retry-After 0 forever is not retried forever: six attempts, then 'rate limited'."""
    cf.add_zone("example.com")
    cf.rate_limit(100, retry_after=0)
    with pytest.raises(CloudflareRateLimited, match=r"rate limited .*gave up after 6 attempts"):
        await client(cf).fetch("example.com")
    assert [q.status for q in cf.requests] == [429] * 6
