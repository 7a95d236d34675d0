"""tls_certificate against real TLS servers on 127.0.0.1 (intgkit.testing's TlsServer).

Expected severities are testssl.sh's (the module docstring names them); which protocols and
suites a server accepts is whatever the test configured the server with (a cipher string, a
protocol range), and the cross-check against sslyze itself is tests/test_tls_parity.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import socket
import ssl
import tempfile
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from _tls_fixtures import Issued, make_ca, make_leaf, ocsp_response, s_server
from cryptography.hazmat.primitives import hashes

import intgkit
from intgkit.integrations import tls_certificate as mod
from intgkit.integrations._findings import FINDING_COLUMNS
from intgkit.integrations.tls_certificate import (
    TlsCertificate,
    _chain,
    _ciphers,
    _report,
    _scan,
    match_hostname,
)
from intgkit.integrations.tls_certificate._parse import CertFacts
from intgkit.testing._tls import TlsServer

NOW = datetime.now(UTC)
TLS10 = ssl.TLSVersion.TLSv1


def checks(out: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Findings by check name (each check exactly once)."""
    rows = out["findings"]
    names = [r["check"] for r in rows]
    assert len(names) == len(set(names)), names
    return {r["check"]: r for r in rows}


def facts(out: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    (row,) = out["certificate"]
    return row


def outcome(out: dict[str, list[dict[str, Any]]], check: str) -> tuple[str, bool, str]:
    row = checks(out)[check]
    return row["result_id"], row["passed"], row["severity"]


async def audit(server: TlsServer, target: str | None = None, **kw: Any) -> dict[str, list[dict[str, Any]]]:
    kw.setdefault("ca_bundle", server.ca_bundle)
    kw.setdefault("resolve", server.resolve)
    return await TlsCertificate(**kw).fetch(target or server.target)


async def speaks_tls10(port: int) -> bool:
    """Whether this machine's ssl module can complete a TLS 1.0 handshake (independent of intgkit)."""
    if not ssl.HAS_TLSv1:
        return False
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ctx.maximum_version = TLS10
    except (ValueError, ssl.SSLError):
        return False
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await writer.start_tls(ctx, server_hostname="site.test")
        return True
    except (ssl.SSLError, OSError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts and never speaks: handshakes time out against it."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(OSError):
            await reader.read()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for w in held:
            w.close()
        await server.wait_closed()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- certificates ------------------------------------------------------------------------------


#: Mozilla's intermediate suites for an ECDSA leaf (guidelines 5.7), as an OpenSSL cipher string
INTERMEDIATE_ECDSA = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305"
)


async def test_valid_certificate_passes_every_check() -> None:
    """A trusted ECDSA leaf valid 91 days, TLS 1.2 (intermediate suites) + 1.3: every check passes.

    The one exception is OCSP stapling, which the stdlib server cannot do (rated low, as
    testssl.sh rates it); the modern profile (TLS 1.3 only) is not met, an info finding.
    """
    async with TlsServer(ciphers=INTERMEDIATE_ECDSA) as server:
        out = await audit(server)
    found = checks(out)
    failed = {k: (r["result_id"], r["severity"]) for k, r in found.items() if not r["passed"]}
    assert failed == {
        "ocsp_stapling": ("ocsp-stapling-not-stapled", "low"),
        "mozilla_modern": ("mozilla-modern-not-met", "info"),
        "mozilla_old": ("mozilla-old-not-met", "info"),  # old wants RSA; intermediate is met
    }
    assert all(r["severity"] == "info" for k, r in found.items() if k not in failed)
    assert list(out["findings"][0])[: len(FINDING_COLUMNS)] == list(FINDING_COLUMNS)
    assert all(r["explanation"] for r in out["findings"]), "every finding explains itself"
    assert {r["result_id"] for r in found.values()} == {
        "chain-of-trust-ok",
        "hostname-match",
        "expiration-ok",
        "lifespan-ok",
        "key-size-ok",
        "signature-algorithm-ok",
        "chain-sha1-none",
        "chain-order-ok",
        "chain-root-not-sent",
        "client-certificate-not-requested",
        "ocsp-stapling-not-stapled",
        "protocol-ssl3-0-not-offered",
        "protocol-tls1-0-not-offered",
        "protocol-tls1-1-not-offered",
        "protocol-tls1-2-offered",
        "protocol-tls1-3-offered",
        "cipher-null-not-offered",
        "cipher-anonymous-not-offered",
        "cipher-export-not-offered",
        "cipher-rc4-not-offered",
        "cipher-low-grade-not-offered",
        "cipher-3des-not-offered",
        "cipher-cbc-legacy-not-offered",
        "cipher-no-forward-secrecy-not-offered",
        "mozilla-modern-not-met",
        "mozilla-intermediate-met",
        "mozilla-old-not-met",
    }
    assert json.loads(found["mozilla_modern"]["observed"]) == [
        "ciphers",
        "maximum_certificate_lifespan",
        "tls_versions",
    ]
    assert json.loads(found["mozilla_old"]["observed"]) == ["certificate_signatures", "certificate_types"]
    f = facts(out)
    assert f["host"] == "site.test" and f["port"] == server.port and f["address"] == "127.0.0.1"
    assert f["sni"] == "site.test" and f["tls_version"] == "TLSv1.3" and f["bits"] == 256
    assert f["chain_valid"] is True and f["san_match"] is True and f["verify_code"] is None
    assert f["san"] == "site.test, localhost, 127.0.0.1"
    assert f["issuer_o"].startswith("trustme") and "O=trustme" in f["issuer"]
    assert (f["key_type"], f["key_bits"], f["sig_alg"]) == ("EC", 256, "ecdsa-with-SHA256")
    assert abs(f["days_left"] - 90) < 0.01 and abs(f["lifespan_days"] - 91) < 0.01
    assert f["not_after"].endswith("Z") and int(f["serial"], 16) > 0
    assert (f["ssl3_0"], f["tls1_0"], f["tls1_1"], f["tls1_2"], f["tls1_3"]) == (
        "not offered",
        "not offered",
        "not offered",
        "offered",
        "offered",
    )
    assert (f["mozilla_profile"], f["client_certificate"], f["ocsp_stapling"]) == (
        "intermediate",
        "not requested",
        "not stapled",
    )
    suites = {(r["protocol"], r["suite"]) for r in out["cipher_suites"]}
    assert suites == {
        ("TLS 1.2", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
        ("TLS 1.2", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
        ("TLS 1.2", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
        ("TLS 1.3", "TLS_AES_128_GCM_SHA256"),
        ("TLS 1.3", "TLS_AES_256_GCM_SHA384"),
        ("TLS 1.3", "TLS_CHACHA20_POLY1305_SHA256"),
    }
    assert all(r["weaknesses"] == "" for r in out["cipher_suites"])


@pytest.mark.parametrize(
    ("days", "result_id", "severity"),
    [(10, "expiration-under-30-days", "high"), (45, "expiration-under-60-days", "medium")],
)
async def test_expiring_certificate(days: int, result_id: str, severity: str) -> None:
    """Expiring in 10 days is high (< 30), in 45 days medium (< 60); the chain still verifies."""
    async with TlsServer(not_after=NOW + timedelta(days=days)) as server:
        out = await audit(server)
    assert outcome(out, "expiration") == (result_id, False, severity)
    assert outcome(out, "chain_of_trust") == ("chain-of-trust-ok", True, "info")
    assert abs(facts(out)["days_left"] - days) < 0.01


async def test_lets_encrypt_thresholds_are_halved() -> None:
    """An issuer O of "Let's Encrypt" halves the thresholds: 20 days left is medium, not high."""
    ca = trustme.CA(organization_name="Let's Encrypt")
    async with TlsServer(ca=ca, not_after=NOW + timedelta(days=20)) as server:
        out = await audit(server)
    assert facts(out)["issuer_o"] == "Let's Encrypt"
    assert outcome(out, "expiration") == ("expiration-under-30-days", False, "medium")


async def test_expired_certificate_is_critical_with_verify_code_10() -> None:
    """Expired: chain and expiration critical, verify code 10, facts read from an unverified fetch."""
    async with TlsServer(not_before=NOW - timedelta(days=100), not_after=NOW - timedelta(days=2)) as server:
        out = await audit(server)
    assert outcome(out, "chain_of_trust") == ("chain-of-trust-expired", False, "critical")
    assert outcome(out, "expiration") == ("expiration-expired", False, "critical")
    assert outcome(out, "hostname") == ("hostname-match", True, "info")
    f = facts(out)
    assert (f["chain_valid"], f["verify_code"], f["verify_message"]) == (False, 10, "certificate has expired")
    assert abs(f["days_left"] + 2) < 0.01 and f["tls_version"] == "TLSv1.3" and f["key_type"] == "EC"


async def test_wrong_hostname_is_high_with_verify_code_62() -> None:
    """A name the leaf lacks: hostname high, verify code 62, and the chain itself judged valid."""
    async with TlsServer() as server:
        out = await audit(server, f"other.test:{server.port}", resolve=server.resolve_for("other.test"))
    assert outcome(out, "hostname") == ("hostname-mismatch", False, "high")
    assert outcome(out, "chain_of_trust") == ("chain-of-trust-ok", True, "info")
    f = facts(out)
    assert (f["verify_code"], f["san_match"], f["chain_valid"], f["sni"]) == (62, False, True, "other.test")
    assert "other.test" in f["verify_message"]


async def test_wrong_hostname_does_not_hide_expiry() -> None:
    """OpenSSL reports 62 before 10; the chain-only handshake still finds the expired chain."""
    async with TlsServer(not_before=NOW - timedelta(days=100), not_after=NOW - timedelta(days=2)) as server:
        out = await audit(server, f"other.test:{server.port}", resolve=server.resolve_for("other.test"))
    assert outcome(out, "hostname") == ("hostname-mismatch", False, "high")
    assert outcome(out, "chain_of_trust") == ("chain-of-trust-expired", False, "critical")
    assert facts(out)["verify_code"] == 62 and facts(out)["verify_error"] == "10 certificate has expired"


async def test_untrusted_ca_is_critical_with_verify_code_20(tmp_path: Path) -> None:
    """Trusting another CA: unknown issuer (20) critical; the name is still matched locally."""
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    async with TlsServer() as server:
        out = await audit(server, ca_bundle=str(other))
    assert outcome(out, "chain_of_trust") == ("chain-of-trust-unknown-issuer", False, "critical")
    assert outcome(out, "hostname") == ("hostname-match", True, "info")
    f = facts(out)
    assert (f["verify_code"], f["chain_valid"], f["san_match"]) == (20, False, True)


async def test_wildcard_match_is_low() -> None:
    """A name matched through *.example.test passes, rated low as testssl.sh rates wildcards."""
    async with TlsServer(("*.example.test",)) as server:
        out = await audit(
            server, f"www.example.test:{server.port}", resolve=server.resolve_for("www.example.test")
        )
    assert outcome(out, "hostname") == ("hostname-match-wildcard", True, "low")
    assert checks(out)["hostname"]["observed"] == "*.example.test"


def test_match_hostname_follows_rfc_6125() -> None:
    """Wildcards cover one whole leftmost label under two more; IPs match IP SANs; never the CN."""
    assert match_hostname("a.example.com", ["*.example.com"]) == "*.example.com"
    assert match_hostname("example.com", ["*.example.com"]) is None
    assert match_hostname("a.b.example.com", ["*.example.com"]) is None
    assert match_hostname("site.test", ["*.test"]) is None
    assert match_hostname("WWW.Example.COM.", ["www.example.com"]) == "www.example.com"
    assert match_hostname("127.0.0.1", ["127.0.0.1"], ["::1"]) is None
    assert match_hostname("::1", [], ["0:0:0:0:0:0:0:1"]) == "0:0:0:0:0:0:0:1"
    assert match_hostname("cn.test", []) is None


@pytest.mark.parametrize(
    ("bits", "key_size", "mozilla", "chain"),
    [
        (
            1024,
            ("key-size-1024-or-less", False, "medium"),
            ("mozilla-intermediate-not-met", False, "medium"),
            ("chain-of-trust-failed", False, "critical"),
        ),
        (
            2048,
            ("key-size-2048-or-less", True, "info"),
            ("mozilla-intermediate-met", True, "info"),
            ("chain-of-trust-ok", True, "info"),
        ),
    ],
)
async def test_rsa_key_size(
    bits: int, key_size: tuple[str, bool, str], mozilla: tuple[str, bool, str], chain: tuple[str, bool, str]
) -> None:
    """RSA 1024: testssl medium, Mozilla intermediate not met, OpenSSL's level 2 rejects it (66)."""
    ciphers = "ECDHE-RSA-AES128-GCM-SHA256" + (":@SECLEVEL=0" if bits < 2048 else "")
    async with TlsServer(key_type="rsa", key_bits=bits, ciphers=ciphers) as server:
        out = await audit(server)
    assert outcome(out, "key_size") == key_size
    assert outcome(out, "mozilla_intermediate") == mozilla
    if bits < 2048:
        assert "rsa_key_size" in json.loads(checks(out)["mozilla_intermediate"]["observed"])
    assert outcome(out, "chain_of_trust") == chain
    f = facts(out)
    assert (f["key_type"], f["key_bits"]) == ("RSA", bits)
    assert f["verify_code"] == (66 if bits == 1024 else None)


@pytest.mark.parametrize(
    ("days", "lifespan", "mozilla"),
    [
        (380, ("lifespan-ok", True, "info"), True),
        (366.5, ("lifespan-ok", True, "info"), False),
        (
            400,
            ("lifespan-over-398-days", False, "medium"),
            True,
        ),
        (
            2000,
            ("lifespan-5-years-or-more", False, "medium"),
            True,
        ),
        (
            4000,
            ("lifespan-10-years-or-more", False, "high"),
            True,
        ),
    ],
)
async def test_lifespan(days: float, lifespan: tuple[str, bool, str], mozilla: bool) -> None:
    """Lifespan: Mozilla flags > 366 whole days; testssl.sh > 398 days medium, >= 5 y medium, >= 10 y high."""
    async with TlsServer(
        not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=days - 1)
    ) as server:
        out = await audit(server)
    assert outcome(out, "lifespan") == lifespan
    issues = json.loads(checks(out)["mozilla_intermediate"]["observed"] or "[]")
    assert ("maximum_certificate_lifespan" in issues) is mozilla
    assert abs(facts(out)["lifespan_days"] - days) < 0.01


@pytest.mark.parametrize(
    ("sig_alg", "digest", "expected"),
    [
        ("md5WithRSAEncryption", "md5", ("signature-algorithm-md5", False, "critical")),
        ("md2WithRSAEncryption", "md2", ("signature-algorithm-md2", False, "critical")),
        ("sha1WithRSAEncryption", "sha1", ("signature-algorithm-sha1", False, "medium")),
        ("ecdsa-with-SHA1", "sha1", ("signature-algorithm-sha1", False, "medium")),
        ("sha224WithRSAEncryption", "sha224", ("signature-algorithm-sha224", True, "info")),
        ("rsassaPss with sha384", "sha384", ("signature-algorithm-ok", True, "info")),
        ("Ed25519", "eddsa", ("signature-algorithm-ok", True, "info")),
        ("1.2.3.4", None, ("signature-algorithm-unknown", False, "info")),
    ],
)
def test_signature_algorithm_table(sig_alg: str, digest: str | None, expected: tuple[str, bool, str]) -> None:
    """testssl.sh's signature table: MD2/MD4/MD5 critical, SHA-1 medium, SHA-224 info, SHA-2/EdDSA ok."""
    cert = CertFacts(
        subject="", subject_cn=None, issuer="", issuer_o=None, issuer_cn=None, serial="1",
        not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=90), dns_names=("a.test",),
        ip_addresses=(), key_type="EC", key_bits=256, sig_alg=sig_alg, sig_hash=digest,
    )  # fmt: skip
    report = _report.Report("a.test")
    _chain.signature(report, cert)
    out = {"findings": report.rows}
    assert outcome(out, "signature_algorithm") == expected
    assert checks(out)["signature_algorithm"]["observed"] == sig_alg


# -- protocols ---------------------------------------------------------------------------------


async def test_tls10_allowed_is_reported_as_offered() -> None:
    """A server allowing TLS 1.0/1.1: offered (low), CBC suites there flagged, intermediate not met."""
    async with TlsServer(min_version=TLS10) as server:
        out = await audit(server)
    assert outcome(out, "protocol_tls1_0") == ("protocol-tls1-0-offered", False, "low")
    assert outcome(out, "protocol_tls1_1") == ("protocol-tls1-1-offered", False, "low")
    assert outcome(out, "cipher_cbc_legacy") == ("cipher-cbc-legacy-offered", False, "low")
    assert outcome(out, "mozilla_intermediate") == ("mozilla-intermediate-not-met", False, "medium")
    assert "tls_versions" in json.loads(checks(out)["mozilla_intermediate"]["observed"])
    f = facts(out)
    assert (f["tls1_0"], f["tls1_1"], f["tls1_2"], f["tls1_3"]) == ("offered",) * 4


async def test_tls10_refused_is_reported_as_not_offered() -> None:
    """A TLS 1.2+ server refuses the TLS 1.0 hello: not offered, passed, and the server really said no."""
    async with TlsServer() as server:
        out = await audit(server)
        refused = server.failed_handshakes
    assert outcome(out, "protocol_tls1_0") == ("protocol-tls1-0-not-offered", True, "info")
    assert facts(out)["tls1_0"] == "not offered"
    assert any("UNSUPPORTED_PROTOCOL" in e for e in refused), refused


async def test_tls10_only_server() -> None:
    """TLS 1.0 only: no default client connects, yet the chain is judged; TLS 1.2 missing is medium."""
    async with TlsServer(min_version=TLS10, max_version=TLS10) as server:
        if not await speaks_tls10(server.port):
            pytest.skip("this machine's OpenSSL cannot speak TLS 1.0 (the verdict on the chain needs it)")
        out = await audit(server)
    assert outcome(out, "chain_of_trust") == ("chain-of-trust-ok", True, "info")
    assert "default client cannot connect" in checks(out)["chain_of_trust"]["detail"]
    assert outcome(out, "protocol_tls1_2") == ("protocol-tls1-2-not-offered", False, "medium")
    assert outcome(out, "protocol_tls1_3") == ("protocol-tls1-3-not-offered", False, "low")
    assert outcome(out, "protocol_tls1_0") == ("protocol-tls1-0-offered", False, "low")
    assert facts(out)["tls_version"] == "TLSv1"


# -- targets, settings, failures ---------------------------------------------------------------


async def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry-point object reads INTGKIT_CA_BUNDLE and INTGKIT_RESOLVE at fetch time; URLs work."""
    async with TlsServer() as server:
        monkeypatch.setenv("INTGKIT_CA_BUNDLE", server.ca_bundle)
        monkeypatch.setenv("INTGKIT_RESOLVE", server.resolve)
        out = await mod.integration.fetch(f"https://site.test:{server.port}/some/path")
    assert outcome(out, "chain_of_trust") == ("chain-of-trust-ok", True, "info")
    assert mod.integration.is_configured() and mod.integration.breaker_per_target is True


async def test_connect_port_from_resolve_entry() -> None:
    """A resolve entry's fourth field redirects a default-port target (site.test:443) to the server."""
    async with TlsServer() as server:
        out = await audit(server, "site.test", resolve=f"site.test:443:127.0.0.1:{server.port}")
    f = facts(out)
    assert (f["port"], f["chain_valid"]) == (443, True)


async def test_refused_connection_raises_a_clear_error() -> None:
    """No listener: ConnectionError naming host, port and address."""
    port = closed_port()
    with pytest.raises(
        ConnectionError, match=rf"cannot connect to site\.test:{port} \(at 127\.0\.0\.1:{port}\)"
    ):
        await TlsCertificate(resolve=f"site.test:{port}:127.0.0.1").fetch(f"site.test:{port}")


async def test_silent_server_times_out() -> None:
    """A peer that never answers the handshake fails within the handshake timeout, clearly."""
    async with silent_server() as port:
        check = TlsCertificate(resolve=f"site.test:{port}:127.0.0.1", handshake_timeout=0.2)
        with pytest.raises(ConnectionError, match=r"no TLS handshake with site\.test.*within 0\.2 s"):
            await check.fetch(f"site.test:{port}")


async def test_runner_timeout_cancels_the_handshakes_cleanly() -> None:
    """A runner timeout shorter than the handshake timeout ends as a timeout result, sockets closed."""
    async with silent_server() as port:
        obj = TlsCertificate(resolve=f"site.test:{port}:127.0.0.1", handshake_timeout=5)
        reg = intgkit.IntegrationRegistry(None)
        reg.register(obj)
        (result,) = await intgkit.IntegrationRunner(reg, timeout=0.3).arun(
            [obj.name], targets=[f"site.test:{port}"]
        )
    assert result.status == "timeout"
    gc.collect()  # an unclosed socket would surface here as a ResourceWarning, an error under pytest


async def test_http_url_is_refused() -> None:
    """An http:// target has no TLS to check: ValueError before any connection."""
    with pytest.raises(ValueError, match="http:// URL has no TLS"):
        await TlsCertificate().fetch("http://site.test/")


async def test_through_the_runner() -> None:
    """Through a real runner: one ok result with findings, one error result for a dead port."""
    dead = closed_port()
    async with TlsServer(not_after=NOW + timedelta(days=10)) as server:
        obj = TlsCertificate(
            ca_bundle=server.ca_bundle, resolve=f"{server.resolve},dead.test:{dead}:127.0.0.1"
        )
        reg = intgkit.IntegrationRegistry(None)
        reg.register(obj)
        results = await intgkit.IntegrationRunner(reg, timeout=5).arun(
            [obj.name], targets=[server.target, f"dead.test:{dead}"]
        )
    by_target = {r.target: r for r in results}
    good, bad = by_target[server.target], by_target[f"dead.test:{dead}"]
    assert good.status == "ok" and bad.status == "error"
    assert bad.error_type == "ConnectionError" and "cannot connect to dead.test" in (bad.error or "")
    frame = results.to_frame("findings")
    row = frame[(frame["target"] == server.target) & (frame["check"] == "expiration")].iloc[0]
    assert (row["result_id"], row["severity"], bool(row["passed"])) == (
        "expiration-under-30-days",
        "high",
        False,
    )
    assert len(frame) == 27
    assert good.section("certificate").rows[0]["chain_valid"] is True


# -- issue 14: the bugs sslyze's comparison found ------------------------------------------------


@pytest.mark.parametrize("max_version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
async def test_mutual_tls_server_is_reported_not_crashed(max_version: ssl.TLSVersion) -> None:
    """A server requiring a client certificate: no crash, TLS 1.2 offered, "client certificate required"."""
    async with TlsServer(client_cert="required", max_version=max_version) as server:
        outs = [await audit(server) for _ in range(3)]  # the crash came in most runs, not all
    for out in outs:
        assert facts(out)["tls1_2"] == "offered"
        assert outcome(out, "client_certificate") == ("client-certificate-required", True, "info")
        assert outcome(out, "chain_of_trust") == ("chain-of-trust-ok", True, "info")
        assert facts(out)["client_certificate"] == "required"


async def test_mutual_tls_alert_from_openssl(tmp_path: Path) -> None:
    """openssl s_server -Verify sends TLS 1.3's certificate_required alert: read as required."""
    ca = make_ca()
    leaf = make_leaf(ca)
    with s_server(tmp_path, leaf, min_protocol="TLSv1.3", verify_client=ca) as port:
        out = await audit_at(port, ca)
    assert outcome(out, "client_certificate") == ("client-certificate-required", True, "info")
    assert facts(out)["tls1_3"] == "offered" and facts(out)["tls1_2"] == "not offered"


async def test_optional_client_certificate() -> None:
    """A server that asks for a client certificate but goes on without one: optional."""
    async with TlsServer(client_cert="optional") as server:
        out = await audit(server)
    assert outcome(out, "client_certificate") == ("client-certificate-optional", True, "info")


async def test_no_subject_alt_name_fails_even_with_a_matching_cn(tmp_path: Path) -> None:
    """CN=site.test without subjectAltName: browsers reject it, so hostname-no-san (high)."""
    ca = make_ca()
    with s_server(tmp_path, make_leaf(ca, san=False, cn="site.test"), [ca]) as port:
        out = await audit_at(port, ca)
    assert outcome(out, "hostname") == ("hostname-no-san", False, "high")
    assert "ignored by browsers" in checks(out)["hostname"]["detail"]
    assert "certificate_hostname_validation" in json.loads(checks(out)["mozilla_intermediate"]["observed"])
    assert facts(out)["san_match"] is False


async def test_not_yet_valid_self_signed_reports_both_problems(tmp_path: Path) -> None:
    """A self-signed leaf valid only from next week: self-signed (critical) AND not yet valid (critical)."""
    leaf = make_leaf(None, not_before=NOW + timedelta(days=7), not_after=NOW + timedelta(days=60))
    with s_server(tmp_path, leaf) as port:
        out = await audit_at(port, None)
    assert outcome(out, "chain_of_trust") == ("chain-of-trust-self-signed", False, "critical")
    assert outcome(out, "expiration") == ("expiration-not-yet-valid", False, "critical")


async def test_plain_http_port_gets_a_plain_language_error() -> None:
    """A plain-HTTP port: the error says so in words first, OpenSSL's jargon after, in brackets."""

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ConnectionError) as info:
            await TlsCertificate(resolve=f"site.test:{port}:127.0.0.1").fetch(f"site.test:{port}")
    finally:
        server.close()
        await server.wait_closed()
    message = str(info.value)
    assert "the server did not answer in TLS" in message
    plain, _, jargon = message.partition("(OpenSSL:")
    assert "wrong version number" in jargon and "wrong version number" not in plain


# -- new coverage: suites, chain, OCSP, profiles, bounds -----------------------------------------


async def audit_at(port: int, ca: Issued | None, **kw: Any) -> dict[str, list[dict[str, Any]]]:
    """Audit site.test at an openssl s_server trusting ``ca`` (a throwaway root when None)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as f:
        f.write((ca or make_ca()).pem)
    try:
        return await TlsCertificate(ca_bundle=f.name, resolve=f"site.test:{port}:127.0.0.1", **kw).fetch(
            f"site.test:{port}"
        )
    finally:
        os.unlink(f.name)


async def test_weak_suites_are_flagged_per_class() -> None:
    """An RSA server accepting NULL, static-RSA and legacy CBC suites: each class flagged.

    (This machine's OpenSSL 3.0 has no 3DES, RC4 or EXPORT suites left to serve; their classes
    are pinned by test_cipher_suite_classes, and sslyze's parity test covers what it can serve.)
    """
    ciphers = "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA:NULL-SHA256:@SECLEVEL=0"
    async with TlsServer(key_type="rsa", min_version=TLS10, ciphers=ciphers) as server:
        out = await audit(server)
    assert outcome(out, "cipher_null") == ("cipher-null-offered", False, "critical")
    assert outcome(out, "cipher_3des") == ("cipher-3des-not-offered", True, "info")
    assert outcome(out, "cipher_no_forward_secrecy") == ("cipher-no-forward-secrecy-offered", False, "low")
    assert outcome(out, "cipher_cbc_legacy") == ("cipher-cbc-legacy-offered", False, "low")
    assert outcome(out, "cipher_rc4")[0] == "cipher-rc4-not-offered"
    assert outcome(out, "mozilla_old") == ("mozilla-old-not-met", False, "high")
    rows = {(r["protocol"], r["suite"]): r for r in out["cipher_suites"]}
    assert {s for p, s in rows if p == "TLS 1.2"} == {
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_RSA_WITH_AES_128_CBC_SHA",
        "TLS_RSA_WITH_NULL_SHA256",
    }
    assert rows[("TLS 1.2", "TLS_RSA_WITH_NULL_SHA256")]["weaknesses"] == "null, no_forward_secrecy"
    assert rows[("TLS 1.0", "TLS_RSA_WITH_AES_128_CBC_SHA")]["weaknesses"] == "no_forward_secrecy, cbc_legacy"
    assert rows[("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")]["ephemeral_key"] == "ECDH X25519 256"


@pytest.mark.parametrize(
    ("name", "weaknesses"),
    [  # testssl.sh's classes (run_cipherlists), by the suite's IANA name
        ("TLS_NULL_WITH_NULL_NULL", ("null", "anonymous", "no_forward_secrecy")),
        ("TLS_RSA_EXPORT_WITH_RC4_40_MD5", ("export", "rc4", "no_forward_secrecy")),
        ("TLS_DH_anon_WITH_AES_128_GCM_SHA256", ("anonymous", "no_forward_secrecy")),
        ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", ("rc4",)),
        ("TLS_RSA_WITH_DES_CBC_SHA", ("low_grade", "no_forward_secrecy")),
        ("TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", ("3des",)),
        ("TLS_RSA_WITH_IDEA_CBC_SHA", ("3des", "no_forward_secrecy")),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", ()),
        ("TLS_CHACHA20_POLY1305_SHA256", ()),
    ],
)
def test_cipher_suite_classes(name: str, weaknesses: tuple[str, ...]) -> None:
    """Each registry suite's weakness classes, read from its IANA name."""
    (suite,) = [s for s in _ciphers.registry().values() if s.name == name]
    assert suite.weaknesses == weaknesses


def test_registry_holds_the_iana_code_points() -> None:
    """Spot checks of the registry against RFC 5246 / 8446 / 7905 code points."""
    reg = _ciphers.registry()
    assert reg[0x002F].name == "TLS_RSA_WITH_AES_128_CBC_SHA"
    assert reg[0x1301].name == "TLS_AES_128_GCM_SHA256"
    assert reg[0xCCA8].name == "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
    assert reg[0x0003].name == "TLS_RSA_EXPORT_WITH_RC4_40_MD5"


async def test_sha1_intermediate_root_sent_and_order(tmp_path: Path) -> None:
    """A SHA-1-signed intermediate is found; the root sent is reported; a reversed chain is out of order."""
    root = make_ca()
    inter = make_ca("intgkit sha1 intermediate", issuer=root, digest=hashes.SHA1())
    leaf = make_leaf(inter)
    with s_server(tmp_path / "a", leaf, [inter, root]) as port:
        out = await audit_at(port, root)
    assert outcome(out, "chain_sha1") == ("chain-sha1-found", False, "medium")
    assert (
        "sha1WithRSAEncryption" in checks(out)["chain_sha1"]["observed"]
        or "ecdsa-with-SHA1" in (checks(out)["chain_sha1"]["observed"])
    )
    assert outcome(out, "chain_root") == ("chain-root-sent", True, "info")
    assert outcome(out, "chain_order") == ("chain-order-ok", True, "info")
    assert outcome(out, "signature_algorithm") == ("signature-algorithm-ok", True, "info")  # the leaf's own
    assert facts(out)["chain_length"] == 3
    with s_server(tmp_path / "b", make_leaf(inter), [root, inter]) as port:
        out = await audit_at(port, root)
    assert outcome(out, "chain_order") == ("chain-order-invalid", False, "low")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("good", ("ocsp-stapling-ok", True, "info")),
        ("revoked", ("ocsp-stapling-revoked", False, "critical")),
        ("foreign", ("ocsp-stapling-untrusted", False, "medium")),
        (None, ("ocsp-stapling-not-stapled", False, "low")),
    ],
)
async def test_ocsp_stapling(tmp_path: Path, status: str | None, expected: tuple[str, bool, str]) -> None:
    """A stapled 'good' response passes, 'revoked' is critical, one signed by a stranger is
    medium (clients ignore it), none is low (testssl.sh)."""
    ca = make_ca()
    leaf = make_leaf(ca)
    if status == "foreign":
        der: bytes | None = ocsp_response(leaf, ca, "good", signer=make_ca("someone else"))
    else:
        der = ocsp_response(leaf, ca, status) if status else None
    with s_server(tmp_path, leaf, ocsp_der=der) as port:
        out = await audit_at(port, ca)
    assert outcome(out, "ocsp_stapling") == expected


async def test_tls13_only_server_has_unknown_stapling(tmp_path: Path) -> None:
    """TLS 1.3 only: the staple is encrypted, so stapling is unknown, never "not stapled"."""
    ca = make_ca()
    leaf = make_leaf(ca)
    with s_server(tmp_path, leaf, min_protocol="TLSv1.3", ocsp_der=ocsp_response(leaf, ca)) as port:
        out = await audit_at(port, ca)
    assert outcome(out, "ocsp_stapling") == ("ocsp-stapling-unknown", False, "info")
    assert outcome(out, "mozilla_modern")[0] in ("mozilla-modern-met", "mozilla-modern-not-met")
    assert facts(out)["tls1_2"] == "not offered" and facts(out)["tls1_3"] == "offered"


async def test_scan_is_bounded_per_host() -> None:
    """A server with many suites: the scan runs connections side by side, never more than the limit."""
    async with TlsServer(min_version=TLS10) as server:
        result = await _scan.scan("127.0.0.1", server.port, "site.test", timeout=5, budget=20)
    assert 1 < result.peak_connections <= mod.PER_HOST_CONNECTIONS == 8
    accepted = sum(len(v.accepted) for v in result.versions.values())
    assert result.connections <= accepted + 5 * (1 + _scan.CHUNKS)  # one refusal per list


async def test_scan_budget_is_its_own() -> None:
    """A silent server: the scan gives up when its budget is spent, versions unknown with the reason."""
    async with silent_server() as port:
        loop = asyncio.get_running_loop()
        started = loop.time()
        result = await _scan.scan("127.0.0.1", port, "site.test", timeout=5, budget=0.3)
        elapsed = loop.time() - started
    assert elapsed < 2
    assert {v.state for v in result.versions.values()} == {"unknown"}
    assert all("budget" in v.why for v in result.versions.values())


async def test_no_common_suite_is_not_mistaken_for_mutual_tls(tmp_path: Path) -> None:
    """NULL suites only: OpenSSL's handshake_failure alert is no client-certificate demand."""
    ca = make_ca()
    cipher = "NULL-SHA256:@SECLEVEL=0"
    with s_server(tmp_path, make_leaf(ca, kind="rsa"), max_protocol="TLSv1.2", cipher=cipher) as port:
        out = await audit_at(port, ca)
    assert outcome(out, "client_certificate") == ("client-certificate-not-requested", True, "info")
    assert outcome(out, "cipher_null") == ("cipher-null-offered", False, "critical")
    assert outcome(out, "chain_of_trust")[0] == "chain-of-trust-unknown"
    assert "no cipher suite in common" in checks(out)["chain_of_trust"]["detail"]


async def test_old_profile_missed_only_on_certificate_type_is_info() -> None:
    """TLS 1.0 with old-profile suites on an ECDSA leaf: intermediate missed (medium); old missed
    only because it wants RSA certificates, which is no weakness (info)."""
    ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"
    async with TlsServer(min_version=TLS10, ciphers=ciphers) as server:
        out = await audit(server)
    assert outcome(out, "mozilla_intermediate") == ("mozilla-intermediate-not-met", False, "medium")
    assert outcome(out, "mozilla_old") == ("mozilla-old-not-met", False, "info")
    assert json.loads(checks(out)["mozilla_old"]["observed"]) == [
        "certificate_signatures",
        "certificate_types",
    ]


def _record(kind: int, payload: bytes) -> bytes:
    return bytes([kind]) + b"\x03\x03" + len(payload).to_bytes(2, "big") + payload


def _server_hello(version: int, suite: int, supported_version: int | None = None) -> bytes:
    ext = b""
    if supported_version is not None:  # RFC 8446 §4.2.1: the ServerHello's supported_versions
        ext = b"\x00\x2b\x00\x02" + supported_version.to_bytes(2, "big")
    body = version.to_bytes(2, "big") + bytes(32) + b"\x00" + suite.to_bytes(2, "big") + b"\x00"
    body += len(ext).to_bytes(2, "big") + ext
    return b"\x02" + len(body).to_bytes(3, "big") + body


def test_wire_reads_server_hellos_alerts_and_refuses_non_tls() -> None:
    """The flight reader: TLS 1.2 and 1.3 ServerHellos (RFC 5246 §7.4.1.3, RFC 8446 §4.1.3),
    a whole TLS 1.2 flight split across records, an alert, and bytes that are not TLS."""
    from intgkit.integrations.tls_certificate import _wire

    r = _wire.FlightReader(full=False)
    r.feed(_record(22, _server_hello(0x0303, 0xC02B)))
    assert r.finished and (r.flight.version, r.flight.suite) == (0x0303, 0xC02B)

    r = _wire.FlightReader(full=False)
    r.feed(_record(22, _server_hello(0x0303, 0x1301, supported_version=0x0304)))
    assert (r.flight.version, r.flight.suite) == (0x0304, 0x1301)

    der = b"\x30\x03\x02\x01\x01"  # any bytes: the reader does not parse certificates
    certs = len(der).to_bytes(3, "big") + der
    cert_msg = b"\x0b" + (len(certs) + 3).to_bytes(3, "big") + len(certs).to_bytes(3, "big") + certs
    status = b"\x16" + (4 + 3).to_bytes(3, "big") + b"\x01" + (3).to_bytes(3, "big") + b"abc"
    request = b"\x0d" + (4).to_bytes(3, "big") + b"\x01\x01\x00\x00"
    done = b"\x0e\x00\x00\x00"
    flight = _server_hello(0x0303, 0xC02F) + cert_msg + status + request + done
    r = _wire.FlightReader(full=True)
    data = _record(22, flight[:30]) + _record(22, flight[30:])
    for i in range(0, len(data), 7):  # byte by byte, almost: records and messages span reads
        r.feed(data[i : i + 7])
    f = r.flight
    assert f.done and f.certificates == [der] and f.ocsp_response == b"abc" and f.client_cert_requested

    r = _wire.FlightReader(full=False)
    r.feed(_record(21, b"\x02\x46"))  # fatal protocol_version (70)
    assert r.finished and r.flight.alert_name == "protocol_version"

    with pytest.raises(ValueError, match="not TLS"):
        _wire.FlightReader(full=False).feed(b"HTTP/1.1 400 Bad Request\r\n\r\n")


def test_client_hello_offers_what_was_asked() -> None:
    """A ClientHello record: handshake type 1, the legacy version, the suites, SNI in clear."""
    from intgkit.integrations.tls_certificate import _wire

    hello = _wire.client_hello(_wire.TLS12, [0xC02B, 0x009C], "site.test")
    assert hello[0] == 22 and hello[5] == 1  # a handshake record holding a ClientHello
    assert hello[9:11] == b"\x03\x03"  # client_version TLS 1.2
    assert b"\x00\x04\xc0\x2b\x00\x9c" in hello  # the suites vector, as offered
    assert b"site.test" in hello
    tls13 = _wire.client_hello(_wire.TLS13, [0x1301], None)
    assert tls13[9:11] == b"\x03\x03" and b"\x00\x2b\x00\x03\x02\x03\x04" in tls13  # supported_versions
    with pytest.raises(ValueError, match="at least one cipher suite"):
        _wire.client_hello(_wire.TLS12, [], None)
