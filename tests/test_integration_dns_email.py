"""The dns_email integration against real DNS and HTTPS servers on 127.0.0.1.

Expected results are worked out by hand from the rules in the module docstring (checkdmarc,
RFC 7208/9989/8461/8460/8659 and the severities of the security-check notes).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import intgkit
from intgkit.integrations.dns_email import (
    DnsEmail,
    DnsTimeoutError,
    mx_pattern_matches,
    organizational_domain,
    parse_nameserver,
)
from intgkit.testing import DnsZoneServer, MtaStsPolicyServer, SilentDnsServer, SmtpServer, signed_zone

GOOD = """
$ORIGIN good.test.
$TTL 300
@           SOA   ns1 hostmaster 1 3600 600 86400 300
@           NS    ns1
ns1         A     192.0.2.53
@           TXT   "v=spf1 ip4:192.0.2.0/24 include:_spf.good.test mx -all"
@           TXT   "google-site-verification=abc"
@           MX    10 mx1.good.test.
@           MX    20 mx2.good.test.
mx1         A     192.0.2.10
mx2         A     192.0.2.11
_spf        TXT   "v=spf1 a:relay.good.test ~all"
relay       A     192.0.2.20
_dmarc      TXT   "v=DMARC1; p=reject; rua=mailto:dmarc@good.test"
_mta-sts    TXT   "v=STSv1; id=20240101T000000"
_smtp._tls  TXT   "v=TLSRPTv1; rua=mailto:tls@good.test"
@           CAA   0 issue "letsencrypt.org"
@           CAA   0 iodef "mailto:security@good.test"
default._bimi TXT "v=BIMI1; l=https://good.test/logo.svg; a=https://good.test/vmc.pem"
"""
GOOD_POLICY = "version: STSv1\r\nmode: enforce\r\nmx: *.good.test\r\nmax_age: 604800\r\n"


async def scan(
    zone: str,
    target: str,
    *,
    ad: bool = False,
    servfail: bool | list[str] = False,
    policies: dict[str, str] | None = None,
    policy_status: int = 200,
    smtp: bool = False,
) -> dict[str, list[dict[str, Any]]]:
    """Serve the zone and the MTA-STS policies locally and run one fetch against them.

    The policy host of ``target`` always points at the local server (404 without a policy),
    so no test ever asks the system resolver. SMTP probing is off unless asked for (the
    zones' MX hosts have documentation addresses, which nobody answers).
    """
    with DnsZoneServer(zone, ad=ad, servfail=servfail) as dns:
        async with MtaStsPolicyServer(policies or {}, status=policy_status) as web:
            obj = DnsEmail(
                nameserver=dns.nameserver,
                ca_bundle=web.ca_bundle,
                resolve=web.resolve_for(target, *(policies or {})),
                lifetime=2,
                smtp=smtp,
            )
            return await obj.fetch(target)


def signed(zone: str, origin: str) -> str:
    """The zone signed (DNSSEC), with its DS record as the parent would publish it."""
    return signed_zone(zone, origin)


def checks(sections: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Findings by check name (each check appears once)."""
    rows = sections["findings"]
    out = {row["check"]: row for row in rows}
    assert len(out) == len(rows), f"a check appears twice: {[r['check'] for r in rows]}"
    return out


def ids(sections: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """result_id by check name."""
    return {check: row["result_id"] for check, row in checks(sections).items()}


def spf_zone(domain: str, *records: str, extra: str = "") -> str:
    """A zone whose apex has the given TXT records, a DMARC record and the extra lines."""
    txt = "\n".join(f'@ TXT "{r}"' for r in records)
    return (
        f'$ORIGIN {domain}.\n$TTL 60\n{txt}\n_dmarc TXT "v=DMARC1; p=reject; rua=mailto:d@{domain}"\n{extra}'
    )


# -- a well-configured domain --------------------------------------------------------------


async def test_good_domain_passes_every_check() -> None:
    """A signed domain with SPF -all, DMARC reject, MTA-STS, TLS-RPT, CAA and BIMI passes all."""
    out = await scan(signed(GOOD, "good.test"), "good.test", policies={"good.test": GOOD_POLICY})
    assert ids(out) == {
        "spf_record": "spf-valid",
        "spf_size": "spf-size-ok",
        "dmarc_size": "dmarc-size-ok",
        "bimi": "bimi-present",
        "spf_lookups": "spf-lookups-ok",
        "spf_void_lookups": "spf-void-lookups-ok",
        "spf_loops": "spf-no-loop",
        "spf_all": "spf-all-fail",
        "spf_ptr": "spf-no-ptr",
        "dmarc_record": "dmarc-valid",
        "dmarc_policy": "dmarc-policy-reject",
        "dmarc_rua": "dmarc-rua-present",
        "mta_sts": "mta-sts-enforce",
        "mta_sts_mx": "mta-sts-mx-covered",
        "tls_rpt": "tls-rpt-present",
        "caa": "caa-present",
        "dnssec": "dnssec-valid",
    }
    assert all(r["passed"] and r["severity"] == "info" for r in out["findings"])
    found = checks(out)
    # include:_spf (1) + mx (1) + a:relay inside _spf (1); ip4 and all query nothing
    assert found["spf_lookups"]["observed"] == "3"
    assert found["spf_void_lookups"]["observed"] == "0"
    assert found["spf_record"]["observed"] == "v=spf1 ip4:192.0.2.0/24 include:_spf.good.test mx -all"
    assert found["mta_sts_mx"]["observed"] == '["mx1.good.test", "mx2.good.test"]'
    assert found["caa"]["observed"] == '["issue letsencrypt.org", "iodef mailto:security@good.test"]'
    assert {r["integration"] for r in out["findings"]} == {"dns_email"}
    assert {r["target"] for r in out["findings"]} == {"good.test"}
    assert all(r["explanation"] for r in out["findings"])


async def test_good_domain_facts() -> None:
    """The facts sections hold the SPF tree, the DMARC tags, the MTA-STS policy and the queries."""
    out = await scan(GOOD, "good.test", ad=True, policies={"good.test": GOOD_POLICY})
    assert [(r["name_queried"], r["via"], r["depth"], r["all"]) for r in out["spf"]] == [
        ("good.test", "", 0, "-all"),
        ("_spf.good.test", "include", 1, "~all"),
    ]
    (dmarc,) = out["dmarc"]
    assert (dmarc["p"], dmarc["sp"], dmarc["location"], dmarc["rua"]) == (
        "reject", "reject", "good.test", "mailto:dmarc@good.test",
    )  # fmt: skip
    (sts,) = out["mta_sts"]
    assert (sts["id"], sts["mode"], sts["max_age"], sts["http_status"]) == (
        "20240101T000000",
        "enforce",
        604800,
        200,
    )
    txt = [r for r in out["dns_records"] if r["name_queried"] == "good.test" and r["record_type"] == "TXT"]
    assert sorted(r["raw_record"] for r in txt) == [
        "google-site-verification=abc",
        "v=spf1 ip4:192.0.2.0/24 include:_spf.good.test mx -all",
    ]
    assert all(r["status"] == "NOERROR" for r in txt)
    queried = {(r["name_queried"], r["record_type"]) for r in out["dns_records"]}
    assert ("relay.good.test", "A") in queried and ("_smtp._tls.good.test", "TXT") in queried


# -- SPF --------------------------------------------------------------------------------------


async def test_spf_nested_includes_over_ten_lookups() -> None:
    """Lookups are counted through nested includes: 2 + 4 + 3 + 2 = 11 is over the limit of 10."""
    zone = spf_zone(
        "chain.test",
        "v=spf1 include:a.chain.test include:b.chain.test -all",  # 2
        extra="""
@     A   192.0.2.1
@     MX  10 mx.chain.test.
mx    A   192.0.2.2
x     A   127.0.0.2
a     TXT "v=spf1 a:chain.test mx:chain.test exists:x.chain.test include:c.chain.test ~all"
c     TXT "v=spf1 a:h1.chain.test a:h2.chain.test a:h3.chain.test -all"
b     TXT "v=spf1 mx:chain.test ptr -all"
h1    A   192.0.2.11
h2    A   192.0.2.12
h3    A   192.0.2.13
""",
    )
    out = await scan(zone, "chain.test")
    found = checks(out)
    assert found["spf_lookups"]["result_id"] == "spf-too-many-lookups"
    assert found["spf_lookups"]["observed"] == "11"
    assert (found["spf_lookups"]["passed"], found["spf_lookups"]["severity"]) == (False, "high")
    assert found["spf_void_lookups"]["observed"] == "0"
    assert found["spf_ptr"]["result_id"] == "spf-ptr-used"
    assert found["spf_ptr"]["severity"] == "low"
    # the record is a permerror (RFC 7208 §4.6.4), which the record's own row says
    assert found["spf_record"]["result_id"] == "spf-permerror"
    assert found["spf_record"]["observed"] == '["11 DNS lookups (at most 10)"]'
    assert [r["name_queried"] for r in out["spf"]] == [
        "chain.test",
        "a.chain.test",
        "c.chain.test",
        "b.chain.test",
    ]


async def test_spf_ten_lookups_is_still_fine() -> None:
    """Exactly ten DNS-querying terms pass: the limit is inclusive."""
    terms = " ".join(f"a:h{i}.ten.test" for i in range(10))
    hosts = "\n".join(f"h{i} A 192.0.2.{i + 1}" for i in range(10))
    out = await scan(spf_zone("ten.test", f"v=spf1 {terms} -all", extra=hosts), "ten.test")
    assert checks(out)["spf_lookups"]["result_id"] == "spf-lookups-ok"
    assert checks(out)["spf_lookups"]["observed"] == "10"


async def test_spf_more_than_two_void_lookups() -> None:
    """Three a: terms naming hosts without addresses are three void lookups: PermError."""
    zone = spf_zone(
        "void.test",
        "v=spf1 a:n1.void.test a:n2.void.test a:empty.void.test a:ok.void.test -all",
        extra='ok A 192.0.2.1\nempty TXT "no addresses here"',
    )
    found = checks(await scan(zone, "void.test"))
    assert found["spf_void_lookups"]["result_id"] == "spf-too-many-void-lookups"
    assert found["spf_void_lookups"]["observed"] == "3"
    assert found["spf_void_lookups"]["severity"] == "high"
    assert found["spf_lookups"]["observed"] == "4"
    assert found["spf_lookups"]["passed"] is True


async def test_two_void_lookups_pass() -> None:
    """Two void lookups are allowed."""
    zone = spf_zone("void2.test", "v=spf1 a:n1.void2.test a:n2.void2.test -all")
    found = checks(await scan(zone, "void2.test"))
    assert (found["spf_void_lookups"]["result_id"], found["spf_void_lookups"]["observed"]) == (
        "spf-void-lookups-ok", "2",
    )  # fmt: skip


async def test_two_spf_records() -> None:
    """Two v=spf1 records are a PermError, reported once (the other SPF checks do not apply)."""
    zone = spf_zone("two.test", "v=spf1 -all", "v=spf1 include:x.two.test ~all")
    out = await scan(zone, "two.test")
    found = checks(out)
    assert found["spf_record"]["result_id"] == "spf-multiple-records"
    assert (found["spf_record"]["passed"], found["spf_record"]["severity"]) == (False, "high")
    assert not {"spf_lookups", "spf_all", "spf_void_lookups"} & set(found)
    assert found["dmarc_policy"]["result_id"] == "dmarc-policy-reject"  # the rest still reports


async def test_spf_missing_and_lookalike() -> None:
    """No record (a v=spf10 lookalike is discarded, RFC 7208 §4.5) is spf-not-found, medium."""
    found = checks(await scan(spf_zone("none.test", "v=spf10 -all"), "none.test"))
    assert (found["spf_record"]["result_id"], found["spf_record"]["severity"]) == ("spf-not-found", "medium")


@pytest.mark.parametrize(
    ("record", "result_id", "passed", "severity"),
    [
        ("v=spf1 +all", "spf-all-pass", False, "high"),
        ("v=spf1 all", "spf-all-pass", False, "high"),
        ("v=spf1 ip4:192.0.2.1 ?all", "spf-all-neutral", False, "medium"),
        ("v=spf1 ip4:192.0.2.1", "spf-all-missing", False, "medium"),
        ("v=spf1 ip4:192.0.2.1 ~all", "spf-all-softfail", True, "info"),
        ("v=spf1 ip4:192.0.2.1 -all", "spf-all-fail", True, "info"),
    ],
)
async def test_spf_all_qualifier(record: str, result_id: str, passed: bool, severity: str) -> None:
    """The all qualifier maps to severities: +all high, ?all/none medium, ~all info, -all pass."""
    row = checks(await scan(spf_zone("all.test", record), "all.test"))["spf_all"]
    assert (row["result_id"], row["passed"], row["severity"]) == (result_id, passed, severity)


async def test_spf_redirect_supplies_all_and_counts() -> None:
    """With no all, redirect= decides the result and its record's lookups count too."""
    zone = spf_zone(
        "redir.test", "v=spf1 mx redirect=_spf.redir.test",
        extra='@ MX 10 mx.redir.test.\n_spf TXT "v=spf1 a:mx.redir.test ?all"\nmx A 192.0.2.5',
    )  # fmt: skip
    found = checks(await scan(zone, "redir.test"))
    assert found["spf_all"]["result_id"] == "spf-all-neutral"
    assert found["spf_lookups"]["observed"] == "3"  # mx, redirect, a


async def test_spf_include_loop() -> None:
    """An include that comes back to an earlier domain is reported as a loop."""
    zone = spf_zone(
        "loop.test", "v=spf1 include:a.loop.test -all",
        extra='a TXT "v=spf1 include:loop.test -all"',
    )  # fmt: skip
    row = checks(await scan(zone, "loop.test"))["spf_loops"]
    assert (row["result_id"], row["severity"]) == ("spf-loop", "high")
    assert row["observed"] == '["loop.test -> a.loop.test -> loop.test"]'


async def test_spf_include_without_record_and_syntax_error() -> None:
    """An include target without SPF is a PermError (and void); a bad term is a syntax error."""
    zone = spf_zone("inc.test", "v=spf1 include:nospf.inc.test -all", extra='nospf TXT "hello"')
    row = checks(await scan(zone, "inc.test"))["spf_record"]
    assert (row["result_id"], row["severity"]) == ("spf-include-invalid", "high")
    assert row["observed"] == '["include:nospf.inc.test has no SPF record"]'
    bad = checks(await scan(spf_zone("bad.test", "v=spf1 ip4:300.1.1.1 -all"), "bad.test"))["spf_record"]
    assert (bad["result_id"], bad["severity"]) == ("spf-syntax-error", "high")


# -- DMARC ------------------------------------------------------------------------------------


def dmarc_zone(record: str | None, domain: str = "dm.test") -> str:
    dmarc = f'_dmarc TXT "{record}"' if record is not None else ""
    return f'$ORIGIN {domain}.\n$TTL 60\n@ TXT "v=spf1 -all"\n{dmarc}\n'


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            "v=DMARC1; p=reject; rua=mailto:d@dm.test",
            {
                "dmarc_record": "dmarc-valid",
                "dmarc_policy": "dmarc-policy-reject",
                "dmarc_rua": "dmarc-rua-present",
            },
        ),
        (
            "v=DMARC1; p=none; rua=mailto:d@dm.test",
            {
                "dmarc_record": "dmarc-valid",
                "dmarc_policy": "dmarc-policy-none",
                "dmarc_rua": "dmarc-rua-present",
            },
        ),
        (
            "v=DMARC1; p=quarantine",
            {
                "dmarc_record": "dmarc-valid",
                "dmarc_policy": "dmarc-policy-quarantine",
                "dmarc_rua": "dmarc-rua-missing",
            },
        ),
        (
            "v=DMARC1; rua=mailto:d@dm.test",
            {
                "dmarc_record": "dmarc-valid",
                "dmarc_policy": "dmarc-policy-missing",
                "dmarc_rua": "dmarc-rua-present",
            },
        ),
        ("v=DMARC1; p=reject; p=none", {"dmarc_record": "dmarc-invalid"}),
        ("v=DMARC1; p=block", {"dmarc_record": "dmarc-invalid"}),
        (None, {"dmarc_record": "dmarc-not-found"}),
    ],
)
async def test_dmarc_variants(record: str | None, expected: dict[str, str]) -> None:
    """DMARC record and policy findings for reject, none, quarantine, missing p/rua, errors, none."""
    found = ids(await scan(dmarc_zone(record), "dm.test"))
    got = {k: v for k, v in found.items() if k.startswith("dmarc") and k != "dmarc_size"}
    assert got == expected


async def test_dmarc_severities() -> None:
    """p=none is medium, quarantine low, a missing rua low, a duplicate tag high."""
    none = checks(await scan(dmarc_zone("v=DMARC1; p=none"), "dm.test"))
    assert (none["dmarc_policy"]["severity"], none["dmarc_rua"]["severity"]) == ("medium", "low")
    assert none["dmarc_policy"]["observed"] == "p=none"
    quarantine = checks(await scan(dmarc_zone("v=DMARC1; p=quarantine; rua=mailto:a@dm.test"), "dm.test"))
    assert quarantine["dmarc_policy"]["severity"] == "low"
    dup = checks(await scan(dmarc_zone("v=DMARC1; p=reject; rua=mailto:a@x; rua=mailto:b@x"), "dm.test"))
    assert (dup["dmarc_record"]["severity"], dup["dmarc_record"]["observed"]) == (
        "high",
        '["duplicate rua tag"]',
    )


async def test_dmarc_falls_back_to_organizational_domain() -> None:
    """A subdomain without _dmarc uses the organisational domain's record and its sp tag."""
    zone = """
$ORIGIN org.test.
$TTL 60
@       TXT "v=spf1 -all"
_dmarc  TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@org.test"
mail    TXT "v=spf1 -all"
"""
    out = await scan(zone, "mail.org.test")
    found = checks(out)
    assert found["dmarc_record"]["result_id"] == "dmarc-valid"
    assert found["dmarc_policy"]["result_id"] == "dmarc-policy-quarantine"
    assert found["dmarc_policy"]["observed"] == "sp=quarantine"
    assert out["dmarc"][0]["name_queried"] == "_dmarc.org.test"
    assert out["dmarc"][0]["location"] == "org.test"
    statuses = [(r["name_queried"], r["status"]) for r in out["dns_records"] if r["purpose"] == "dmarc"]
    # RFC 9989 §4.10: the walk goes on to the top-level label (a psd=n/y record would stop it)
    assert statuses == [
        ("_dmarc.mail.org.test", "NXDOMAIN"),
        ("_dmarc.org.test", "NOERROR"),
        ("_dmarc.test", "NXDOMAIN"),
    ]


# -- MTA-STS and TLS-RPT ------------------------------------------------------------------------


async def test_mta_sts_policy_not_covering_mx() -> None:
    """MX hosts outside the policy's mx patterns are a medium mismatch; the others are covered."""
    policy = "version: STSv1\nmode: enforce\nmx: mx1.good.test\nmx: *.backup.good.test\nmax_age: 86400\n"
    zone = GOOD + "@ MX 30 a.backup.good.test.\n@ MX 40 a.b.backup.good.test.\n"
    found = checks(await scan(zone, "good.test", policies={"good.test": policy}))
    row = found["mta_sts_mx"]
    # *.backup.good.test matches one label only: a.backup yes, a.b.backup no
    assert row["observed"] == '["mx2.good.test", "a.b.backup.good.test"]'
    assert (row["result_id"], row["passed"], row["severity"]) == ("mta-sts-mx-mismatch", False, "medium")
    assert found["mta_sts"]["result_id"] == "mta-sts-enforce"


async def test_mta_sts_testing_mode_and_unavailable_policy() -> None:
    """mode: testing is low; a policy host answering 404 is a medium 'unavailable'."""
    testing = GOOD_POLICY.replace("enforce", "testing")
    found = checks(await scan(GOOD, "good.test", policies={"good.test": testing}))
    assert (found["mta_sts"]["result_id"], found["mta_sts"]["severity"]) == ("mta-sts-mode-testing", "low")
    assert found["mta_sts_mx"]["result_id"] == "mta-sts-mx-covered"
    out = await scan(GOOD, "good.test", policies={"good.test": GOOD_POLICY}, policy_status=404)
    row = checks(out)["mta_sts"]
    assert (row["result_id"], row["severity"]) == ("mta-sts-policy-unavailable", "medium")
    assert row["observed"] == "HTTP 404 from https://mta-sts.good.test/.well-known/mta-sts.txt"
    assert "mta_sts_mx" not in checks(out)


async def test_mta_sts_untrusted_certificate() -> None:
    """A policy host whose certificate is not trusted is 'unavailable' (no CA bundle given)."""
    with DnsZoneServer(GOOD) as dns:
        async with MtaStsPolicyServer({"good.test": GOOD_POLICY}) as web:
            obj = DnsEmail(
                nameserver=dns.nameserver, resolve=web.resolve_for("good.test"), lifetime=2, smtp=False
            )
            row = checks(await obj.fetch("good.test"))["mta_sts"]
    assert row["result_id"] == "mta-sts-policy-unavailable"
    assert "certificate" in row["observed"].lower()


async def test_mta_sts_and_tls_rpt_absent() -> None:
    """Without _mta-sts and _smtp._tls records both checks are informational 'not found'."""
    found = checks(await scan(dmarc_zone("v=DMARC1; p=reject; rua=mailto:d@dm.test"), "dm.test"))
    assert (found["mta_sts"]["result_id"], found["mta_sts"]["severity"]) == ("mta-sts-not-found", "info")
    assert (found["tls_rpt"]["result_id"], found["tls_rpt"]["severity"]) == ("tls-rpt-not-found", "info")
    assert found["mta_sts"]["passed"] is False
    assert "mta_sts_mx" not in found


async def test_tls_rpt_invalid_uri() -> None:
    """A TLS-RPT rua that is neither mailto: nor https: is low 'invalid'."""
    zone = dmarc_zone("v=DMARC1; p=reject") + '_smtp._tls TXT "v=TLSRPTv1; rua=http://x.dm.test/r"\n'
    row = checks(await scan(zone, "dm.test"))["tls_rpt"]
    assert (row["result_id"], row["severity"]) == ("tls-rpt-invalid", "low")


# -- CAA and DNSSEC -------------------------------------------------------------------------------


async def test_caa_found_on_parent() -> None:
    """CAA climbs from www.caa.test to caa.test (RFC 8659) and reports where it was found."""
    zone = dmarc_zone("v=DMARC1; p=reject", "caa.test") + (
        '@ CAA 0 issue "ca.example"\n@ CAA 0 issuewild ";"\nwww TXT "v=spf1 -all"\n'
    )
    out = await scan(zone, "www.caa.test")
    row = checks(out)["caa"]
    assert (row["result_id"], row["passed"]) == ("caa-present", True)
    assert row["observed"] == '["issue ca.example", "issuewild ;"]'
    assert "inherited from caa.test" in row["detail"]
    assert {(r["name_queried"], r["tag"]) for r in out["caa"]} == {
        ("caa.test", "issue"),
        ("caa.test", "issuewild"),
    }


async def test_caa_absent_is_low_and_unsigned_zone_is_low() -> None:
    """No CAA anywhere up the tree is low; a zone without DNSKEY is dnssec-unsigned, low.

    The server sets the AD bit, which a validating resolver would not do for an unsigned zone:
    the verdict comes from the missing keys, not from the bit.
    """
    found = checks(await scan(dmarc_zone("v=DMARC1; p=reject"), "dm.test", ad=True))
    assert (found["caa"]["result_id"], found["caa"]["severity"]) == ("caa-not-found", "low")
    assert (found["dnssec"]["result_id"], found["dnssec"]["severity"]) == ("dnssec-unsigned", "low")
    assert found["dnssec"]["observed"] == "no zone"  # not even an SOA: nothing is signed


# -- failures ---------------------------------------------------------------------------------


async def test_nxdomain_domain() -> None:
    """A domain that does not exist gives one 'domain' finding and nothing else."""
    out = await scan(GOOD, "missing.test")
    assert ids(out) == {"domain": "domain-nxdomain"}
    assert out["dns_records"][0]["status"] == "NXDOMAIN"
    # a typo must never look clean: the finding is high and failed
    (row,) = out["findings"]
    assert (row["passed"], row["severity"]) == (False, "high")


async def test_silent_server_raises_clear_timeout() -> None:
    """A nameserver that never answers makes fetch raise DnsTimeoutError naming it."""
    with SilentDnsServer() as silent:
        obj = DnsEmail(nameserver=silent.nameserver, lifetime=0.3)
        with pytest.raises(DnsTimeoutError) as info:
            await obj.fetch("good.test")
    assert str(info.value).startswith(f"DNS server {silent.nameserver} did not answer within 0.3 s")


async def test_servfail_on_some_names_marks_those_checks_unknown() -> None:
    """SERVFAIL for _dmarc and CAA names makes only those checks unknown; the rest report."""
    out = await scan(GOOD, "good.test", servfail=["_dmarc.good.test", "good.test.", "test"], ad=True)
    found = checks(out)
    # the apex SERVFAILs too, so SPF and DNSSEC (read from the apex TXT answer) are unknown
    assert found["dmarc_record"]["result_id"] == "dmarc-unknown"
    assert found["dmarc_record"]["observed"] == "SERVFAIL"
    assert found["spf_record"]["result_id"] == "spf-unknown"
    assert found["dnssec"]["result_id"] == "dnssec-unknown"
    assert found["caa"]["result_id"] == "caa-unknown"
    assert found["tls_rpt"]["result_id"] == "tls-rpt-present"
    assert all(
        not r["passed"] and r["severity"] == "info"
        for r in out["findings"]
        if r["result_id"].endswith("-unknown")
    )


async def test_servfail_everywhere() -> None:
    """A server answering SERVFAIL to everything yields only unknown findings, no exception."""
    out = await scan(GOOD, "good.test", servfail=True, smtp=True)
    assert {r["result_id"] for r in out["findings"]} == {
        "spf-unknown", "dmarc-unknown", "mta-sts-unknown", "tls-rpt-unknown", "caa-unknown", "dnssec-unknown",
        "bimi-unknown", "mx-starttls-unknown",
    }  # fmt: skip
    # every unknown names the lookup that failed
    details = {r["result_id"]: r["detail"] for r in out["findings"]}
    assert details["dmarc-unknown"].startswith(
        "could not be evaluated: the TXT lookup of _dmarc.good.test failed"
    )
    assert details["mx-starttls-unknown"].startswith(
        "could not be evaluated: the MX lookup of good.test failed"
    )


async def test_bad_targets_and_settings() -> None:
    """An IP target or a nameserver that is not an IP address is a clear ValueError."""
    with pytest.raises(ValueError, match="needs a domain name"):
        await DnsEmail(nameserver="127.0.0.1:1").fetch("192.0.2.1")
    with pytest.raises(ValueError, match="must be an IP address"):
        await DnsEmail(nameserver="dns.example:53").fetch("good.test")
    with pytest.raises(ValueError, match=r"INTGKIT_RESOLVE entry 'mx\.good\.test' is not host:port:address"):
        await DnsEmail(nameserver="127.0.0.1:1", resolve="mx.good.test").fetch("good.test")


async def test_nameserver_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """INTGKIT_DNS_NAMESERVER is read at fetch time when no override is given."""
    with DnsZoneServer(GOOD) as dns:
        async with MtaStsPolicyServer({"good.test": GOOD_POLICY}) as web:
            monkeypatch.setenv("INTGKIT_DNS_NAMESERVER", dns.nameserver)
            monkeypatch.setenv("INTGKIT_CA_BUNDLE", web.ca_bundle)
            monkeypatch.setenv("INTGKIT_RESOLVE", web.resolve_for("good.test"))
            out = await DnsEmail(lifetime=2, smtp=False).fetch("good.test")
    assert checks(out)["spf_record"]["result_id"] == "spf-valid"
    assert checks(out)["mta_sts"]["result_id"] == "mta-sts-enforce"


# -- through the runner -------------------------------------------------------------------------


async def test_through_the_runner() -> None:
    """The runner gives one ok result per domain, an error result for a silent server's domain."""
    zone = GOOD + '\n$ORIGIN dm.test.\n@ TXT "v=spf1 +all"\n'
    with DnsZoneServer(zone) as dns:
        async with MtaStsPolicyServer({"good.test": GOOD_POLICY}) as web:
            obj = DnsEmail(
                nameserver=dns.nameserver,
                ca_bundle=web.ca_bundle,
                resolve=web.resolve_for("good.test"),
                lifetime=2,
                smtp=False,
            )
            reg = intgkit.IntegrationRegistry(None)
            reg.register(obj)
            runner = intgkit.IntegrationRunner(reg, timeout=5)
            results = await runner.arun([obj.name], targets=["good.test", "dm.test"])
    assert [(r.target, r.status.value) for r in results] == [("good.test", "ok"), ("dm.test", "ok")]
    frame = results.to_frame("findings")
    assert list(frame.columns[:2]) == ["integration", "target"]
    assert set(frame["target"]) == {"good.test", "dm.test"}
    plus = frame[(frame["target"] == "dm.test") & (frame["check"] == "spf_all")]
    assert list(plus["result_id"]) == ["spf-all-pass"]
    assert list(plus["severity"]) == ["high"]
    good = frame[frame["target"] == "good.test"]
    assert list(good[~good["passed"].astype(bool)]["check"]) == ["dnssec"]  # this zone is unsigned
    assert len(results.to_frame("dns_records")) > 10
    sections = {r.target: {s.name: s for s in r.sections} for r in results}
    rows = list(sections["dm.test"]["findings"].rows)
    assert [r["result_id"] for r in rows if r["check"] == "spf_all"] == ["spf-all-pass"]

    with SilentDnsServer() as silent:
        quiet = DnsEmail(nameserver=silent.nameserver, lifetime=0.2)
        reg2 = intgkit.IntegrationRegistry(None)
        reg2.register(quiet)
        (res,) = await intgkit.IntegrationRunner(reg2, timeout=5).arun([quiet.name], targets=["good.test"])
    assert res.status.value == "error"
    assert res.error_type == "DnsTimeoutError"
    assert f"DNS server {silent.nameserver} did not answer within 0.2 s" in (res.error or "")


# -- pure helpers and packaging -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "host", "match"),
    [
        ("mx1.example.com", "MX1.example.com.", True),
        ("*.example.com", "mx1.example.com", True),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", "example.com", False),
        ("mx1.example.com", "mx2.example.com", False),
    ],
)
def test_mx_pattern_matches(pattern: str, host: str, match: bool) -> None:
    """RFC 8461 §4.1: exact names, and a wildcard for exactly one leftmost label."""
    assert mx_pattern_matches(pattern, host) is match


def test_parse_nameserver_and_org_domain() -> None:
    """address[:port] parsing (v4, bracketed v6, bare v6) and the two-label organisational domain."""
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_nameserver("[::1]:5353") == ("::1", 5353)
    assert parse_nameserver("::1") == ("::1", 53)
    assert parse_nameserver("192.0.2.1") == ("192.0.2.1", 53)
    assert organizational_domain("a.b.example.com") == "example.com"


def test_import_is_lazy() -> None:
    """Importing the module does not import dnspython or aiohttp."""
    code = (
        "import sys, intgkit.integrations.dns_email as m; "
        "print(m.integration.name, 'dns' in sys.modules, 'aiohttp' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["dns_email", "False", "False"]


# -- the fixes, against the local server ---------------------------------------------------


async def test_spf_include_servfail_is_temperror() -> None:
    """RFC 7208 §5.2: an include whose lookup SERVFAILs makes SPF temperror: spf-unknown."""
    zone = spf_zone("tmp.test", "v=spf1 include:ext.tmp.test -all")
    row = checks(await scan(zone, "tmp.test", servfail=["ext.tmp.test"]))["spf_record"]
    assert (row["result_id"], row["passed"], row["severity"]) == ("spf-unknown", False, "info")
    assert row["observed"] == "TEMPERROR"
    assert "the TXT lookup of ext.tmp.test failed" in row["detail"]


async def test_spf_exp_after_all_is_not_warned_about() -> None:
    """RFC 7208 §6: modifiers may appear anywhere; exp= after -all is valid and unremarked."""
    zone = spf_zone("exp.test", "v=spf1 -all exp=explain._spf.%{d}")
    row = checks(await scan(zone, "exp.test"))["spf_record"]
    assert (row["result_id"], row["detail"]) == ("spf-valid", "")


async def test_spf_macro_syntax_error() -> None:
    """RFC 7208 §7.1 and §4.6: a%{?} is not a macro, so the record is a permerror."""
    row = checks(await scan(spf_zone("mac.test", "v=spf1 a:%{?} -all"), "mac.test"))["spf_record"]
    assert (row["result_id"], row["severity"]) == ("spf-syntax-error", "high")


RUA = """
$ORIGIN rua.test.
$TTL 60
@       TXT "v=spf1 -all"
_dmarc  TXT "v=DMARC1; p=reject; rua=mailto:d@reports.example,mailto:me@rua.test"
$ORIGIN ok.test.
@       TXT "v=spf1 -all"
_dmarc  TXT "v=DMARC1; p=reject; rua=mailto:d@reports.example"
$ORIGIN reports.example.
ok.test._report._dmarc  TXT "v=DMARC1"
@       TXT "reports"
"""


async def test_dmarc_external_rua_needs_authorisation() -> None:
    """RFC 7489 §7.1: a rua at another organisation needs <domain>._report._dmarc.<rua domain>."""
    bad = checks(await scan(RUA, "rua.test"))["dmarc_rua"]
    assert (bad["result_id"], bad["passed"], bad["severity"]) == ("dmarc-rua-unauthorized", False, "low")
    assert bad["observed"] == '["reports.example"]'
    assert bad["expected"] == "a v=DMARC1 TXT record at rua.test._report._dmarc.reports.example"
    good = checks(await scan(RUA, "ok.test"))["dmarc_rua"]
    assert good["result_id"] == "dmarc-rua-present"
    failed = checks(await scan(RUA, "ok.test", servfail=["ok.test._report._dmarc.reports.example"]))
    row = failed["dmarc_rua"]
    assert row["result_id"] == "dmarc-rua-unknown"
    assert "the TXT lookup of ok.test._report._dmarc.reports.example failed" in row["detail"]


@pytest.mark.parametrize(
    ("lines", "result_id"),
    [
        ('@ TXT "v=DMARC1; p=reject"', "dmarc-at-apex"),
        ('_dmarc TXT "v=spf1 -all"', "dmarc-spf-at-dmarc"),
        ('_dmarc TXT " v=DMARC1; p=reject"', "dmarc-leading-whitespace"),
    ],
)
async def test_dmarc_record_at_the_wrong_place_is_named(lines: str, result_id: str) -> None:
    """A DMARC record at the apex, SPF at _dmarc, or a leading space: the mistake is named."""
    zone = f'$ORIGIN wp.test.\n$TTL 60\n@ TXT "v=spf1 -all"\n{lines}\n'
    row = checks(await scan(zone, "wp.test"))["dmarc_record"]
    assert (row["result_id"], row["passed"], row["severity"]) == (result_id, False, "medium")
    assert row["explanation"]


async def test_dmarc_public_suffix_tree_walk() -> None:
    """RFC 9989: shop.example.co.uk gets example.co.uk's record, and a psd=y record stops the walk."""
    zone = """
$ORIGIN co.uk.
_dmarc                TXT "v=DMARC1; p=none; psd=y"
$ORIGIN example.co.uk.
_dmarc                TXT "v=DMARC1; p=reject; rua=mailto:d@example.co.uk"
shop                  TXT "v=spf1 -all"
"""
    out = await scan(zone, "shop.example.co.uk")
    assert checks(out)["dmarc_policy"]["result_id"] == "dmarc-policy-reject"
    assert out["dmarc"][0]["location"] == "example.co.uk"
    asked = [r["name_queried"] for r in out["dns_records"] if r["purpose"] == "dmarc"]
    assert asked == ["_dmarc.shop.example.co.uk", "_dmarc.example.co.uk", "_dmarc.co.uk"]


# -- new coverage: DNSSEC, SMTP, BIMI, sizes ---------------------------------------------------------

SIGNED = """
$ORIGIN sec.test.
$TTL 300
@    SOA  ns1 hostmaster 1 3600 600 86400 300
@    NS   ns1
ns1  A    192.0.2.53
@    TXT  "v=spf1 -all"
"""


async def test_dnssec_signed_zone_is_validated_here() -> None:
    """Signatures are verified from DNSKEY/RRSIG/DS, not read from the AD bit (here: unset)."""
    row = checks(await scan(signed_zone(SIGNED, "sec.test"), "sec.test", ad=False))["dnssec"]
    assert (row["result_id"], row["passed"]) == ("dnssec-valid", True)
    assert "verified sec.test DNSKEY, sec.test SOA, sec.test TXT" in row["detail"]
    assert "did not set the AD bit" in row["detail"]


async def test_dnssec_expired_signatures_tampering_and_missing_ds() -> None:
    """Expired or non-matching signatures are high; a signed zone without DS is medium."""
    expired = checks(await scan(signed_zone(SIGNED, "sec.test", expired=True), "sec.test"))["dnssec"]
    assert (expired["result_id"], expired["severity"]) == ("dnssec-invalid", "high")
    assert "the signatures of the DNSKEY records of sec.test expired on" in expired["detail"]
    tampered = signed_zone(SIGNED, "sec.test").replace('"v=spf1 -all"', '"v=spf1 +all"')
    bad = checks(await scan(tampered, "sec.test"))["dnssec"]
    assert (bad["result_id"], bad["observed"]) == ("dnssec-invalid", "bad RRSIG")
    no_ds = checks(await scan(signed_zone(SIGNED, "sec.test", ds=False), "sec.test"))["dnssec"]
    assert (no_ds["result_id"], no_ds["severity"]) == ("dnssec-no-ds", "medium")


async def test_dnssec_unsigned_child_of_a_signed_parent_is_unsigned_not_invalid() -> None:
    """A zone without keys under a signed parent (example.com under com) is unsigned, not broken."""
    parent = signed_zone(SIGNED + "child NS ns1.child.sec.test.\n", "sec.test")
    child = """
$ORIGIN child.sec.test.
$TTL 300
@    SOA  ns1 hostmaster 1 3600 600 86400 300
@    NS   ns1
ns1  A    192.0.2.54
@    TXT  "v=spf1 -all"
"""
    row = checks(await scan(parent + child, "child.sec.test"))["dnssec"]
    assert (row["result_id"], row["severity"]) == ("dnssec-unsigned", "low")
    assert row["detail"].startswith("the zone child.sec.test has no DNSKEY")


MX_ZONE = """
$ORIGIN mail.test.
$TTL 60
@    TXT  "v=spf1 mx -all"
@    MX   10 mx1.mail.test.
@    MX   20 mx2.mail.test.
"""


async def smtp_scan(first: SmtpServer, second: SmtpServer, ca_bundle: str) -> dict[str, Any]:
    """Scan mail.test whose MX hosts mx1 and mx2 are the two local SMTP servers."""
    with DnsZoneServer(MX_ZONE) as dns:
        obj = DnsEmail(
            nameserver=dns.nameserver,
            ca_bundle=ca_bundle,
            resolve=first.resolve_for("mx1.mail.test") + "," + second.resolve_for("mx2.mail.test"),
            lifetime=2,
            smtp_timeout=5,
        )
        return await obj.fetch("mail.test")


async def test_mx_starttls_and_certificates() -> None:
    """MX hosts are asked for STARTTLS and their certificates verified against the host name."""
    import trustme

    ca = trustme.CA()
    async with (
        SmtpServer(["mx1.mail.test"], ca=ca) as mx1,
        SmtpServer(["mx2.mail.test"], ca=ca) as mx2,
    ):
        found = checks(await smtp_scan(mx1, mx2, mx1.ca_bundle))
        assert found["mx_starttls"]["result_id"] == "mx-starttls-ok"
        assert found["mx_certificate"]["result_id"] == "mx-certificate-valid"
    async with (
        SmtpServer(["mx1.mail.test"], ca=ca) as mx1,
        SmtpServer(["mx2.mail.test"], starttls=False) as plain,
    ):
        out = await smtp_scan(mx1, plain, mx1.ca_bundle)
        found = checks(out)
        row = found["mx_starttls"]
        assert (row["result_id"], row["severity"], row["observed"]) == (
            "mx-starttls-missing", "medium", '["mx2.mail.test"]',
        )  # fmt: skip
        assert [(r["host"], r["starttls"]) for r in out["mx"]] == [
            ("mx1.mail.test", True),
            ("mx2.mail.test", False),
        ]
    async with (
        SmtpServer(["other.example"], ca=ca) as wrong,
        SmtpServer(["mx2.mail.test"], ca=ca, not_after=datetime.now(UTC) - timedelta(days=1)) as old,
    ):
        row = checks(await smtp_scan(wrong, old, wrong.ca_bundle))["mx_certificate"]
        assert (row["result_id"], row["severity"]) == ("mx-certificate-invalid", "medium")
        assert "mx1.mail.test: Hostname mismatch" in row["observed"]
        assert "mx2.mail.test: certificate has expired" in row["observed"]


async def test_mx_unreachable_is_unknown_naming_the_host() -> None:
    """An MX host that refuses connections makes mx_starttls unknown, naming host and address."""
    async with SmtpServer(["mx1.mail.test"]) as mx1, SmtpServer(["mx2.mail.test"]) as mx2:
        port = mx2.port
    with DnsZoneServer(MX_ZONE) as dns:
        resolve = f"mx1.mail.test:25:127.0.0.1:{port},mx2.mail.test:25:127.0.0.1:{port}"
        obj = DnsEmail(nameserver=dns.nameserver, resolve=resolve, lifetime=2, smtp_timeout=5)
        row = checks(await obj.fetch("mail.test"))["mx_starttls"]
    assert row["result_id"] == "mx-starttls-unknown"
    assert f"mx1.mail.test (127.0.0.1:{port}): ConnectionRefusedError" in row["detail"]
    assert mx1.port != port


async def test_bimi_record_from_dns() -> None:
    """A BIMI record with an http: logo is invalid (low); none at all is informational."""
    zone = dmarc_zone("v=DMARC1; p=reject") + 'default._bimi TXT "v=BIMI1; l=http://dm.test/logo.svg"\n'
    row = checks(await scan(zone, "dm.test"))["bimi"]
    assert (row["result_id"], row["severity"]) == ("bimi-invalid", "low")
    assert checks(await scan(dmarc_zone("v=DMARC1; p=reject"), "dm.test"))["bimi"]["result_id"] == (
        "bimi-not-found"
    )


async def test_dmarc_record_size() -> None:
    """A DMARC answer over 450 bytes (RFC 7208 §3.4's guideline for UDP) is flagged low."""
    first = "v=DMARC1; p=reject; rua=" + ",".join(f"mailto:r{i}@dm.test" for i in range(12))
    second = "," + ",".join(f"mailto:r{i}@dm.test" for i in range(12, 24))  # 2 strings of < 255
    zone = f'$ORIGIN dm.test.\n@ TXT "v=spf1 -all"\n_dmarc TXT "{first}" "{second}"\n'
    row = checks(await scan(zone, "dm.test"))["dmarc_size"]
    assert (row["result_id"], row["severity"]) == ("dmarc-too-large", "low")


async def test_demo_estate_shows_the_mail_findings() -> None:
    """The demo's zone has an unauthorised external rua and an MX without STARTTLS."""
    from intgkit.testing import DemoServers

    async with DemoServers() as servers:
        (dns_email,) = [i for i in servers.integrations() if i.name == "dns_email"]
        out = await dns_email.fetch(servers.SITE)  # type: ignore[attr-defined]
    found = ids(out)
    assert (found["dmarc_rua"], found["mx_starttls"]) == ("dmarc-rua-unauthorized", "mx-starttls-missing")


# -- the DNS client: lost datagrams, truncation, the shared cache -----------------------------------


async def test_truncated_answer_is_asked_again_over_tcp() -> None:
    """A UDP answer cut at 512 bytes (TC) is fetched whole over TCP: all nine TXT records."""
    txt = "\n".join(f'@ TXT "filler-{i}-{"x" * 180}"' for i in range(8))
    zone = spf_zone("big.test", "v=spf1 -all", extra=txt)
    with DnsZoneServer(zone, max_udp=512) as dns:
        out = await DnsEmail(nameserver=dns.nameserver, lifetime=3, smtp=False).fetch("big.test")
        assert ("big.test", "TXT") in dns.queries
    apex = [r for r in out["dns_records"] if r["name_queried"] == "big.test" and r["record_type"] == "TXT"]
    assert len(apex) == 9
    assert checks(out)["spf_size"]["result_id"] == "spf-too-large"


class DropFirst:
    """A UDP relay to a DNS server that loses the first datagram it receives."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.dropped = 0
        self.port = 0

    async def __aenter__(self) -> DropFirst:
        import asyncio
        import socket

        loop = asyncio.get_running_loop()
        relay = self

        class Protocol(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                if relay.dropped == 0:
                    relay.dropped += 1
                    return
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(2)
                    sock.sendto(data, ("127.0.0.1", relay.upstream))
                    self.transport.sendto(sock.recv(65535), addr)

        self.transport, _ = await loop.create_datagram_endpoint(Protocol, local_addr=("127.0.0.1", 0))
        self.port = self.transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.transport.close()


async def test_lost_datagram_is_asked_again() -> None:
    """A query whose datagram is lost is sent again after a second, within the lifetime."""
    import time

    with DnsZoneServer(spf_zone("lost.test", "v=spf1 -all")) as dns:
        async with DropFirst(dns.port) as relay:
            start = time.monotonic()
            out = await DnsEmail(nameserver=f"127.0.0.1:{relay.port}", lifetime=4, smtp=False).fetch(
                "lost.test"
            )
            elapsed = time.monotonic() - start
    assert relay.dropped == 1
    assert checks(out)["spf_record"]["result_id"] == "spf-valid"
    assert 0.9 <= elapsed < 4


async def test_answers_are_reused_by_the_next_domains_for_a_while() -> None:
    """One DnsEmail asks a shared parent once for many domains; cache_seconds=0 asks each time."""
    zone = (
        "$ORIGIN org.test.\n$TTL 60\n"
        + "\n".join(f'd{i} TXT "v=spf1 include:_spf.org.test -all"' for i in range(3))
        + '\n_spf TXT "v=spf1 ip4:192.0.2.0/24 -all"\n'
    )
    for seconds, expected in ((30.0, 1), (0.0, 3)):
        with DnsZoneServer(zone) as dns:
            obj = DnsEmail(nameserver=dns.nameserver, lifetime=2, smtp=False, cache_seconds=seconds)
            for i in range(3):
                assert checks(await obj.fetch(f"d{i}.org.test"))["spf_record"]["result_id"] == "spf-valid"
            assert dns.queries.count(("_spf.org.test", "TXT")) == expected


def test_answer_cache_keeps_only_successes_within_their_ttl() -> None:
    """Failed lookups are never kept; a kept answer lives min(max_age, TTL) seconds."""
    import time

    from intgkit.integrations.dns_email._lookup import Answer, AnswerCache

    cache = AnswerCache(max_age=30)
    cache.put(("a.test", "TXT"), Answer("SERVFAIL"), None)
    assert cache.get(("a.test", "TXT")) is None
    cache.put(("b.test", "TXT"), Answer("NOERROR", texts=["x"]), 0)
    assert cache.get(("b.test", "TXT")) is None  # TTL 0: not reusable
    cache.put(("c.test", "TXT"), Answer("NXDOMAIN"), None)
    kept = cache.get(("c.test", "TXT"))
    assert kept is not None and kept[0].status == "NXDOMAIN"
    short = AnswerCache(max_age=0.05)
    short.put(("d.test", "TXT"), Answer("NOERROR", texts=["x"]), 300)
    time.sleep(0.1)
    assert short.get(("d.test", "TXT")) is None


async def test_one_socket_per_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    """All questions of one domain's audit share one UDP socket, closed when the audit ends."""
    import asyncio

    loop = asyncio.get_running_loop()
    opened: list[Any] = []
    create = loop.create_datagram_endpoint

    async def counting(*args: Any, **kwargs: Any) -> Any:
        transport, protocol = await create(*args, **kwargs)
        opened.append(transport)
        return transport, protocol

    monkeypatch.setattr(loop, "create_datagram_endpoint", counting)
    with DnsZoneServer(GOOD) as dns:
        out = await DnsEmail(nameserver=dns.nameserver, lifetime=2, smtp=False).fetch("good.test")
        asked = len(dns.queries)
    assert len(out["dns_records"]) >= asked > 10
    assert len(opened) == 1 and opened[0].is_closing()
