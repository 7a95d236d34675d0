"""dns_email's parsers and evaluators without DNS, against the RFCs' own examples.

Expected values are the standards' text: RFC 7208 (SPF: Appendix A's records, §7.4's macro
examples, §4.6.4's limits, §5.2 temperror, §6 modifiers), RFC 7489 (DMARC: Appendix B's
records, §7.1's authorisation name), RFC 9989 (DMARCbis: the §4.10 tree walk and its example
name, the psd tag), RFC 8461 §3 (MTA-STS), RFC 8460 §3 (TLS-RPT), RFC 8659 §4 (CAA), the
BIMI draft §4. The evaluators ask a dict of answers instead of a DNS server: the DNS plumbing
has its own tests against a real local server (tests/test_integration_dns_email.py).
"""

from __future__ import annotations

import pytest

from intgkit.integrations.dns_email import organizational_domain
from intgkit.integrations.dns_email._bimi import parse_bimi
from intgkit.integrations.dns_email._caa import caa_problems
from intgkit.integrations.dns_email._catalogue import CATALOGUE, Report
from intgkit.integrations.dns_email._dmarc import (
    check_report_authorisation,
    discover_dmarc,
    external_report_domains,
    parse_dmarc,
)
from intgkit.integrations.dns_email._lookup import Answer
from intgkit.integrations.dns_email._mta_sts import parse_sts_policy, parse_sts_record, parse_tls_rpt
from intgkit.integrations.dns_email._spf import evaluate_spf, parse_spf, spf_findings


class Dns:
    """Answers from a dict: (name, type) -> TXT strings, a status, or NXDOMAIN when absent.

    Every question is recorded in ``asked``. Names that are keys only with other types
    answer NODATA, as a real server does for a name that exists.
    """

    def __init__(self, data: dict[tuple[str, str], list[str] | str]) -> None:
        self.data = data
        self.asked: list[tuple[str, str]] = []

    async def __call__(self, name: str, rdtype: str) -> Answer:
        self.asked.append((name, rdtype))
        value = self.data.get((name, rdtype))
        if isinstance(value, str):
            return Answer(value, error=f"{value} from the test server")
        if value is None:
            exists = any(n == name for n, _ in self.data)
            return Answer("NODATA" if exists else "NXDOMAIN")
        return Answer("NOERROR" if value else "NODATA", texts=list(value), rdata=list(value))


# -- SPF syntax ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        # RFC 7208 Appendix A.1
        "v=spf1 +all",
        "v=spf1 a -all",
        "v=spf1 a:example.org -all",
        "v=spf1 mx -all",
        "v=spf1 mx:example.org -all",
        "v=spf1 mx mx:example.org -all",
        "v=spf1 mx/30 mx:example.org/30 -all",
        "v=spf1 ptr -all",
        "v=spf1 ip4:192.0.2.128/28 -all",
        # Appendix A.2
        "v=spf1 include:example.com include:example.net -all",
        "v=spf1 redirect=example.org",
        # §7.4's macro examples, as the domain-specs they are written for
        "v=spf1 exists:%{s} exists:%{o} exists:%{d} exists:%{d4} exists:%{d3} exists:%{d2} -all",
        "v=spf1 exists:%{d1} exists:%{dr} exists:%{d2r} exists:%{l} exists:%{l-} exists:%{lr} -all",
        "v=spf1 exists:%{lr-} exists:%{l1r-} exists:%{ir}.%{v}._spf.%{d2} -all",
        "v=spf1 exists:%{lr-}.lp._spf.%{d2} exists:%{lr-}.lp.%{ir}.%{v}._spf.%{d2} -all",
        "v=spf1 exists:%{ir}.%{v}.%{l1r-}.lp._spf.%{d2} a:%{d2}.trusted-domains.example.net -all",
        # §7.1: %%, %_ and %- are literal expansions; uppercase letters URL-escape (§7.3)
        "v=spf1 exists:%{S}.100%%.example.com exists:a%_b%-c.%{d} -all",
        # §6: modifiers may appear anywhere, exp may use c, r and t; unknown modifiers are ignored
        "v=spf1 -all exp=explain._spf.%{d}",
        "v=spf1 mx -all exp=%{c}.%{r}.%{t}.explain.example.com foo=bar",
        # §12 / RFC 5234 §2.3: the literal strings of the ABNF are case-insensitive
        "V=SPF1 MX -ALL",
        # §4.6.1: several spaces between terms
        "v=spf1  mx   -all",
        "v=spf1 ip6:2001:db8::/32 ip6:2001:db8::1 -all",
    ],
)
def test_spf_valid_records(record: str) -> None:
    """RFC 7208's example records (Appendix A, the §7.4 macros) parse without error."""
    assert parse_spf(record).errors == ()


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ("v=spf1 a:%{?} -all", "is not a valid macro"),  # §7.1 fixes the letters
        ("v=spf1 -all exp=%{z}", "is not a macro letter"),
        ("v=spf1 a:%{c}.example.com -all", "is not a macro letter"),  # §7.2: c is for exp text
        ("v=spf1 exists:%{d0}.example.com -all", "must not be zero"),  # §7.3
        ("v=spf1 include:100%.example.com -all", "is not a valid macro"),  # a bare %
        ("v=spf1 exists:%{d -all", "is not a valid macro"),
        ("v=spf1 ip4:192.0.2.1/33 -all", "prefix length"),
        ("v=spf1 ip6:2001:db8::/129 -all", "prefix length"),
        ("v=spf1 ip4:2001:db8::1 -all", "not an IPv4 address"),
        ("v=spf1 ip4:192.0.2.300 -all", "not a valid ip4 address"),
        ("v=spf1 a/33 -all", "prefix length"),
        ("v=spf1 foo:bar.example -all", "not a known SPF mechanism"),
        ("v=spf1 include -all", "include needs a domain"),
        ("v=spf1 redirect=a.example redirect=b.example", "appears more than once"),  # §6
        ("v=spf1 mx -all exp=a.example exp=b.example", "appears more than once"),
        ("v=spf1 -all:x", "all takes no argument"),
        ("v=spf1 ip4:192.0.2.1~all", "not a valid ip4 address"),  # all glued to a term
    ],
)
def test_spf_syntax_errors(record: str, why: str) -> None:
    """A syntax error anywhere is a permerror (§4.6), macros included (§7.1)."""
    errors = parse_spf(record).errors
    assert errors, record
    assert any(why in e for e in errors), errors


def test_spf_modifiers_after_all_are_fine_mechanisms_are_not_evaluated() -> None:
    """§6: exp= after -all is allowed (no warning); a mechanism after all is never evaluated."""
    assert parse_spf("v=spf1 mx -all exp=explain.example.com").warnings == ()
    late = parse_spf("v=spf1 -all a:late.example.com")
    assert late.errors == ()
    assert late.warnings == ("'a:late.example.com' comes after all and is never evaluated",)
    assert [t.kind for t in late.evaluated()] == ["all"]


def test_spf_redirect_ignored_with_all() -> None:
    """§6.1: redirect is ignored when the record has an all mechanism."""
    assert parse_spf("v=spf1 -all redirect=other.example").redirect is None
    assert parse_spf("v=spf1 mx redirect=other.example").redirect == "other.example"


# -- SPF evaluation -------------------------------------------------------------------------------


async def test_spf_include_lookup_failure_is_temperror() -> None:
    """§5.2: an include whose lookup fails is temperror: spf-unknown naming the lookup."""
    dns = Dns({("inc.example", "TXT"): "SERVFAIL"})
    record = parse_spf("v=spf1 include:inc.example -all")
    tree = await evaluate_spf("d.example", record, dns)
    assert tree.temperrors == [
        "include:inc.example: the TXT lookup of inc.example failed: SERVFAIL from the test server"
    ]
    report = Report("d.example")
    spf_findings(report, "d.example", Answer("NOERROR", texts=[record.text]), tree, record)
    row = next(r for r in report.rows if r["check"] == "spf_record")
    assert (row["result_id"], row["passed"], row["severity"]) == ("spf-unknown", False, "info")
    assert "the TXT lookup of inc.example failed" in row["detail"]


async def test_spf_void_lookups_count_exists_and_ptr_is_not_resolved() -> None:
    """§4.6.4: exists terms without A records are void lookups; ptr is counted, not resolved."""
    dns = Dns({})
    record = parse_spf("v=spf1 ptr exists:n1.example exists:n2.example exists:n3.example -all")
    tree = await evaluate_spf("d.example", record, dns)
    assert (tree.lookups, tree.void) == (4, 3)
    assert dns.asked == [("n1.example", "A"), ("n2.example", "A"), ("n3.example", "A")]
    assert tree.permerrors == ["3 void lookups (at most 2)"]


async def test_spf_limits_make_the_record_row_a_permerror() -> None:
    """§4.6.4: over 10 lookups, the spf_record row itself says permerror (not spf-valid)."""
    terms = " ".join(f"a:h{i}.example" for i in range(11))
    dns = Dns({(f"h{i}.example", t): ["192.0.2.1"] for i in range(11) for t in ("A", "AAAA")})
    record = parse_spf(f"v=spf1 {terms} -all")
    tree = await evaluate_spf("d.example", record, dns)
    report = Report("d.example")
    spf_findings(report, "d.example", Answer("NOERROR", texts=[record.text]), tree, record)
    found = {r["check"]: r["result_id"] for r in report.rows}
    assert found["spf_record"] == "spf-permerror"
    assert found["spf_lookups"] == "spf-too-many-lookups"


async def test_spf_redirect_to_missing_domain_is_permerror_not_neutral() -> None:
    """§6.1: a redirect to a domain without an SPF record is permerror."""
    dns = Dns({})
    record = parse_spf("v=spf1 mx:mail.example redirect=missing.example")
    tree = await evaluate_spf("d.example", record, dns)
    report = Report("d.example")
    spf_findings(report, "d.example", Answer("NOERROR", texts=[record.text]), tree, record)
    found = {r["check"]: r for r in report.rows}
    assert found["spf_all"]["result_id"] == "spf-all-redirect-invalid"
    assert found["spf_all"]["severity"] == "high"
    assert found["spf_record"]["result_id"] == "spf-include-invalid"
    assert found["spf_record"]["observed"] == '["redirect=missing.example does not exist (NXDOMAIN)"]'


async def test_spf_terms_after_all_are_not_counted() -> None:
    """§4.6.2: evaluation stops at all, so later terms are neither looked up nor counted."""
    dns = Dns({})
    tree = await evaluate_spf("d.example", parse_spf("v=spf1 -all a:late.example"), dns)
    assert (tree.lookups, dns.asked) == (0, [])


async def test_spf_record_size() -> None:
    """§3.4: the name plus all TXT records over 450 octets is flagged; at or below is fine."""
    domain = "d.example"
    big = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(40)) + " -all"  # 559 bytes
    record = parse_spf(big)
    tree = await evaluate_spf(domain, record, Dns({}))
    report = Report(domain)
    spf_findings(report, domain, Answer("NOERROR", texts=[big]), tree, record)
    row = next(r for r in report.rows if r["check"] == "spf_size")
    assert (row["result_id"], row["observed"]) == ("spf-too-large", f"{len(domain) + 1 + len(big)} bytes")


# -- DMARC ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "p", "warnings"),
    [
        # RFC 7489 Appendix B.2.1-B.2.3
        ("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com", "none", []),
        (
            "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com; "
            "ruf=mailto:auth-reports@thirdparty.example.net",
            "none",
            [],
        ),
        (
            "v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com; "
            "ruf=mailto:auth-reports@thirdparty.example.net; pct=25",
            "quarantine",
            ["the pct tag was removed in RFC 9989"],
        ),
        # RFC 9989 §4.7: psd
        ("v=DMARC1; p=reject; psd=y", "reject", []),
    ],
)
def test_dmarc_rfc_examples(record: str, p: str, warnings: list[str]) -> None:
    """RFC 7489's example records parse; pct is reported as removed by RFC 9989."""
    tags, errors, found = parse_dmarc(record)
    assert (tags["p"], errors, found) == (p, [], warnings)


def test_external_report_domains_rfc7489() -> None:
    """§7.1: thirdparty.example.net is another organisation than example.com; a subdomain is not."""
    uris = [
        "mailto:dmarc-feedback@example.com",
        "mailto:auth-reports@thirdparty.example.net",
        "mailto:d@reports.example.com",
    ]
    assert external_report_domains("example.com", uris) == ["thirdparty.example.net"]


async def test_report_authorisation_name_rfc7489() -> None:
    """§7.1: the receiver authorises with a v=DMARC1 TXT at <policy domain>._report._dmarc.<host>."""
    dns = Dns({("example.com._report._dmarc.thirdparty.example.net", "TXT"): ["v=DMARC1"]})
    ok, missing, failed = await check_report_authorisation(
        "example.com", ["mailto:a@thirdparty.example.net", "mailto:b@other.example.org"], dns
    )
    assert (ok, missing, failed) == (["thirdparty.example.net"], ["other.example.org"], [])


@pytest.mark.parametrize(
    ("domain", "org"),
    [
        ("shop.example.co.uk", "example.co.uk"),  # not the last two labels
        ("mail.example.com", "example.com"),
        ("example.com", "example.com"),
        ("a.b.kawasaki.jp", "a.b.kawasaki.jp"),  # wildcard rule: b.kawasaki.jp is a suffix
        ("city.kawasaki.jp", "city.kawasaki.jp"),  # exception rule
        ("Shop.Example.CO.UK.", "example.co.uk"),
    ],
)
def test_organizational_domain_from_the_public_suffix_list(domain: str, org: str) -> None:
    """Organisational domains come from the Public Suffix List, not the last two labels."""
    assert organizational_domain(domain) == org


async def test_dmarc_tree_walk_rfc9989_example() -> None:
    """RFC 9989 §4.10: a name of more than 8 labels skips to 7, then climbs to the TLD."""
    domain = "a.b.c.d.e.f.g.h.i.j.mail.example.com"
    dns = Dns({})
    found = await discover_dmarc(domain, dns, Answer("NODATA"))
    assert found.walked == [
        "_dmarc.a.b.c.d.e.f.g.h.i.j.mail.example.com",
        "_dmarc.g.h.i.j.mail.example.com",
        "_dmarc.h.i.j.mail.example.com",
        "_dmarc.i.j.mail.example.com",
        "_dmarc.j.mail.example.com",
        "_dmarc.mail.example.com",
        "_dmarc.example.com",
        "_dmarc.com",
    ]
    assert found.records == []


async def test_dmarc_tree_walk_uses_the_fewest_labels_and_psd() -> None:
    """§4.10: the record with the fewest labels applies; psd=n stops the walk; psd=y means below."""
    org_and_parent = Dns(
        {
            ("_dmarc.example.co.uk", "TXT"): ["v=DMARC1; p=reject"],
            ("_dmarc.co.uk", "TXT"): ["v=DMARC1; p=none; psd=y"],
        }
    )
    found = await discover_dmarc("mail.shop.example.co.uk", org_and_parent, Answer("NODATA"))
    assert (found.location, found.records) == ("example.co.uk", ["v=DMARC1; p=reject"])
    assert ("_dmarc.uk", "TXT") not in org_and_parent.asked  # psd=y stopped the walk
    stop = Dns(
        {
            ("_dmarc.shop.example.com", "TXT"): ["v=DMARC1; p=quarantine; psd=n"],
            ("_dmarc.example.com", "TXT"): ["v=DMARC1; p=reject"],
        }
    )
    found = await discover_dmarc("mail.shop.example.com", stop, Answer("NODATA"))
    assert (found.location, found.records) == ("shop.example.com", ["v=DMARC1; p=quarantine; psd=n"])
    plain = Dns(
        {
            ("_dmarc.shop.example.com", "TXT"): ["v=DMARC1; p=quarantine"],
            ("_dmarc.example.com", "TXT"): ["v=DMARC1; p=reject"],
        }
    )
    found = await discover_dmarc("mail.shop.example.com", plain, Answer("NODATA"))
    assert found.location == "example.com"


@pytest.mark.parametrize(
    ("dmarc_txt", "apex_txt", "result_id"),
    [
        (["v=spf1 -all"], [], "dmarc-spf-at-dmarc"),
        ([" v=DMARC1; p=reject"], [], "dmarc-leading-whitespace"),
        (["v=dmarc1; p=reject"], [], "dmarc-version-case"),  # RFC 7489 §6.3: "match precisely"
        ([], ["v=DMARC1; p=reject"], "dmarc-at-apex"),
    ],
)
async def test_dmarc_misplaced_records_are_named(
    dmarc_txt: list[str], apex_txt: list[str], result_id: str
) -> None:
    """A record at the wrong place or mistyped is named, not just reported as missing."""
    dns = Dns({("_dmarc.d.example", "TXT"): dmarc_txt} if dmarc_txt else {})
    found = await discover_dmarc("d.example", dns, Answer("NOERROR", texts=apex_txt))
    assert found.records == []
    assert [rid for rid, _ in found.misplaced] == [result_id]


# -- MTA-STS, TLS-RPT, CAA, BIMI ----------------------------------------------------------------


def test_mta_sts_rfc8461_examples() -> None:
    """§3.1's TXT record and §3.2's policy parse as the RFC describes them."""
    tags, problems = parse_sts_record(["v=STSv1; id=20160831085700Z;"])
    assert (tags["id"], problems) == ("20160831085700Z", [])
    policy, errors = parse_sts_policy(
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\n"
        "mx: backupmx.example.com\nmax_age: 604800\n"
    )
    assert errors == []
    assert policy == {
        "version": "STSv1",
        "mode": "enforce",
        "mx": ["mail.example.com", "*.example.net", "backupmx.example.com"],
        "max_age": 604800,
    }
    assert parse_sts_policy("version: STSv1\nmode: enforce\nmax_age: 31557601\nmx: a.example\n")[1] == [
        "max_age must be an integer from 0 to 31557600"
    ]


def test_tls_rpt_rfc8460_examples() -> None:
    """§3's two example records are valid; an http: rua is not."""
    assert parse_tls_rpt(["v=TLSRPTv1; rua=mailto:reports@example.com"]) == []
    assert parse_tls_rpt(["v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt"]) == []
    assert parse_tls_rpt(["v=TLSRPTv1; rua=http://reporting.example.com/"]) == [
        "rua URI 'http://reporting.example.com/' is not mailto: or https:"
    ]


def test_caa_rfc8659_examples() -> None:
    """§4's example properties are valid; an unknown critical tag forbids issuance (§4.1)."""
    valid = [
        (0, "issue", "ca.example.net"),
        (0, "issue", "ca.example.net; account=230123"),
        (0, "issue", ";"),
        (0, "issuewild", "ca.example.net"),
        (0, "iodef", "mailto:security@example.com"),
        (0, "iodef", "https://iodef.example.com/"),
        (0, "tbs", "Unknown"),
    ]
    assert caa_problems(valid) == []
    assert caa_problems([(128, "tbs", "Unknown")]) == [
        "unknown critical tag 'tbs': no CA may issue (RFC 8659 §4.1)"
    ]
    assert caa_problems([(0, "issue", "ca example; x")]) == [
        "issue 'ca example; x': 'ca example' is not a domain name",
        "issue 'ca example; x': 'x' is not key=value",
    ]


@pytest.mark.parametrize(
    ("record", "problems"),
    [
        ("v=BIMI1; l=https://images.example.com/image.svg; a=https://images.example.com/cert.pem", []),
        ("v=BIMI1; l=; a=;", []),  # declining (§4.3.1)
        ("v=BIMI1; l=https://images.example.com/image.svg; x=ignored", []),
        ("v=BIMI1; a=https://images.example.com/cert.pem", ["no l tag (publish l= empty to decline BIMI)"]),
        ("v=BIMI1; l=http://i.example/a.svg", ["l='http://i.example/a.svg' is not one https:// URI"]),
        ("v=BIMI1; l=https://a.ex/1,https://b.ex/2", ["l='https://a.ex/1,https://b.ex/2' is not one https:// URI"]),  # noqa: E501
        ("v=BIMI1; l=; a=https://192.0.2.1/c.pem", ["a='https://192.0.2.1/c.pem' needs a fully qualified host name"]),  # noqa: E501
        ("v=BIMI1; l=; l=", ["duplicate l tag"]),
        ("v=BIMI1; l=; avp=company", ["avp='company' is not brand or personal"]),
    ],
)  # fmt: skip
def test_bimi_syntax(record: str, problems: list[str]) -> None:
    """The BIMI draft §4.3: l required, one https URI each for l and a, avp brand or personal."""
    assert parse_bimi(record)[1] == problems


# -- the catalogue ------------------------------------------------------------------------------


def test_every_result_id_is_documented_with_a_one_line_explanation() -> None:
    """Each result id has a severity, a one-line explanation, and is listed in the docstring."""
    import intgkit.integrations.dns_email as package

    doc = package.__doc__ or ""
    for result_id, kind in CATALOGUE.items():
        assert kind.explanation and "\n" not in kind.explanation and len(kind.explanation) <= 110
        assert result_id in doc, result_id
        assert f"``{kind.check}``" in doc, kind.check
        if result_id.endswith("-unknown"):
            assert (kind.passed, kind.severity) == (False, "info")
