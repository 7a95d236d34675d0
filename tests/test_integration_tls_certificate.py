"""tls_certificate against real TLS servers on 127.0.0.1 (intgkit.testing's TlsServer).

Expected findings are worked out by hand from the rules in the module docstring (testssl.sh
severities, Mozilla intermediate breaches). TLS 1.0/1.1: this machine's OpenSSL (3.0.x) still
speaks them at security level 0, so a legacy server is expected as "offered"; the tests ask the
library directly (a stdlib handshake, not the integration) and expect "unknown" where it cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import socket
import ssl
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

import intgkit
from intgkit.integrations import tls_certificate as mod
from intgkit.integrations._findings import FINDING_COLUMNS
from intgkit.integrations.tls_certificate import TlsCertificate, match_hostname
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


async def test_valid_certificate_passes_every_check() -> None:
    """A trusted ECDSA leaf valid 91 days, TLS 1.2+1.3 only: every check passes, facts are complete."""
    async with TlsServer() as server:
        out = await audit(server)
    found = checks(out)
    assert all(r["passed"] and r["severity"] == "info" for r in found.values()), found
    assert list(out["findings"][0])[: len(FINDING_COLUMNS)] == list(FINDING_COLUMNS)
    assert {r["result_id"] for r in found.values()} == {
        "chain-of-trust-ok",
        "hostname-match",
        "expiration-ok",
        "lifespan-ok",
        "key-size-ok",
        "signature-algorithm-ok",
        "protocol-tls1-0-not-offered",
        "protocol-tls1-1-not-offered",
        "protocol-tls1-2-offered",
        "protocol-tls1-3-offered",
        "mozilla-intermediate-protocols-ok",
        "mozilla-intermediate-key-size-ok",
        "mozilla-intermediate-lifespan-ok",
    }
    f = facts(out)
    assert f["host"] == "site.test" and f["port"] == server.port and f["address"] == "127.0.0.1"
    assert f["sni"] == "site.test" and f["tls_version"] == "TLSv1.3" and f["bits"] == 256
    assert f["chain_valid"] is True and f["san_match"] is True and f["verify_code"] is None
    assert f["san"] == "site.test, localhost, 127.0.0.1"
    assert f["issuer_o"].startswith("trustme") and "O=trustme" in f["issuer"]
    assert (f["key_type"], f["key_bits"], f["sig_alg"]) == ("EC", 256, "ecdsa-with-SHA256")
    assert abs(f["days_left"] - 90) < 0.01 and abs(f["lifespan_days"] - 91) < 0.01
    assert f["not_after"].endswith("Z") and int(f["serial"], 16) > 0
    assert (f["tls1_0"], f["tls1_1"], f["tls1_2"], f["tls1_3"]) == (
        "not offered",
        "not offered",
        "offered",
        "offered",
    )


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
    """Wildcards cover one whole leftmost label under two more; IPs match IP SANs; CN only without SANs."""
    assert match_hostname("a.example.com", ["*.example.com"]) == "*.example.com"
    assert match_hostname("example.com", ["*.example.com"]) is None
    assert match_hostname("a.b.example.com", ["*.example.com"]) is None
    assert match_hostname("site.test", ["*.test"]) is None
    assert match_hostname("WWW.Example.COM.", ["www.example.com"]) == "www.example.com"
    assert match_hostname("127.0.0.1", ["127.0.0.1"], ["::1"]) is None
    assert match_hostname("::1", [], ["0:0:0:0:0:0:0:1"]) == "0:0:0:0:0:0:0:1"
    assert match_hostname("cn.test", [], [], "cn.test") == "cn.test"
    assert match_hostname("cn.test", ["other.test"], [], "cn.test") is None


@pytest.mark.parametrize(
    ("bits", "key_size", "mozilla", "chain"),
    [
        (
            1024,
            ("key-size-1024-or-less", False, "medium"),
            ("mozilla-intermediate-key-size-rsa-under-2048", False, "medium"),
            ("chain-of-trust-failed", False, "critical"),
        ),
        (
            2048,
            ("key-size-2048-or-less", True, "info"),
            ("mozilla-intermediate-key-size-ok", True, "info"),
            ("chain-of-trust-ok", True, "info"),
        ),
    ],
)
async def test_rsa_key_size(
    bits: int, key_size: tuple[str, bool, str], mozilla: tuple[str, bool, str], chain: tuple[str, bool, str]
) -> None:
    """RSA 1024: testssl medium, Mozilla medium, and OpenSSL's level 2 rejects it (66); 2048 passes."""
    async with TlsServer(key_type="rsa", key_bits=bits) as server:
        out = await audit(server)
    assert outcome(out, "key_size") == key_size
    assert outcome(out, "mozilla_intermediate_key_size") == mozilla
    assert outcome(out, "chain_of_trust") == chain
    f = facts(out)
    assert (f["key_type"], f["key_bits"]) == ("RSA", bits)
    assert f["verify_code"] == (66 if bits == 1024 else None)


@pytest.mark.parametrize(
    ("days", "lifespan", "mozilla"),
    [
        (
            380,
            ("lifespan-ok", True, "info"),
            ("mozilla-intermediate-lifespan-over-366-days", False, "medium"),
        ),
        (366.5, ("lifespan-ok", True, "info"), ("mozilla-intermediate-lifespan-ok", True, "info")),
        (
            400,
            ("lifespan-over-398-days", False, "medium"),
            ("mozilla-intermediate-lifespan-over-366-days", False, "medium"),
        ),
        (
            2000,
            ("lifespan-5-years-or-more", False, "medium"),
            ("mozilla-intermediate-lifespan-over-366-days", False, "medium"),
        ),
        (
            4000,
            ("lifespan-10-years-or-more", False, "high"),
            ("mozilla-intermediate-lifespan-over-366-days", False, "medium"),
        ),
    ],
)
async def test_lifespan(days: float, lifespan: tuple[str, bool, str], mozilla: tuple[str, bool, str]) -> None:
    """Lifespan: Mozilla flags > 366 whole days; testssl.sh > 398 days medium, >= 5 y medium, >= 10 y high."""
    async with TlsServer(
        not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=days - 1)
    ) as server:
        out = await audit(server)
    assert outcome(out, "lifespan") == lifespan
    assert outcome(out, "mozilla_intermediate_lifespan") == mozilla
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
    cert = mod._Cert(
        subject="", subject_cn=None, issuer="", issuer_o=None, issuer_cn=None, serial="1",
        not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=90), dns_names=("a.test",),
        ip_addresses=(), key_type="EC", key_bits=256, sig_alg=sig_alg, sig_hash=digest,
    )  # fmt: skip
    ok = mod._Handshake("ok", version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256", bits=128)
    protocols = {key: (mod.OFFERED, "") for key, _, _ in mod.PROTOCOLS}
    out = mod._Report("a.test", "a.test", 443, "a.test", cert, ok, None, ok, protocols, "").sections()
    assert outcome(out, "signature_algorithm") == expected
    assert checks(out)["signature_algorithm"]["observed"] == sig_alg


# -- protocols ---------------------------------------------------------------------------------


async def test_tls10_allowed_is_reported_as_offered() -> None:
    """A server allowing TLS 1.0/1.1: offered (low) and a Mozilla breach, or unknown where OpenSSL can't."""
    async with TlsServer(min_version=TLS10) as server:
        local = await speaks_tls10(server.port)
        out = await audit(server)
    if local:  # this machine (OpenSSL 3.0 at security level 0)
        assert outcome(out, "protocol_tls1_0") == ("protocol-tls1-0-offered", False, "low")
        assert outcome(out, "protocol_tls1_1") == ("protocol-tls1-1-offered", False, "low")
        assert outcome(out, "mozilla_intermediate_protocols") == (
            "mozilla-intermediate-protocols-legacy-offered",
            False,
            "medium",
        )
        assert facts(out)["tls1_0"] == "offered"
    else:
        assert outcome(out, "protocol_tls1_0") == ("protocol-tls1-0-unknown", False, "info")
        assert facts(out)["tls1_0"] == "unknown"
    assert facts(out)["tls1_2"] == "offered" and facts(out)["tls1_3"] == "offered"


async def test_tls10_refused_is_reported_as_not_offered() -> None:
    """A TLS 1.2+ server refuses the TLS 1.0 probe: not offered, passed (unknown if OpenSSL can't)."""
    async with TlsServer() as legacy_probe_target, TlsServer(min_version=TLS10) as capable:
        local = await speaks_tls10(capable.port)
        out = await audit(legacy_probe_target)
        refused = legacy_probe_target.failed_handshakes
    if local:
        assert outcome(out, "protocol_tls1_0") == ("protocol-tls1-0-not-offered", True, "info")
        assert facts(out)["tls1_0"] == "not offered"
        assert any("UNSUPPORTED_PROTOCOL" in e for e in refused), refused  # the server really said no
    else:
        assert facts(out)["tls1_0"] == "unknown"


async def test_version_the_local_openssl_cannot_speak_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the local library lacks a version the result is unknown (info), never "not offered"."""
    real = mod.local_protocol_support()
    fake = {
        **real,
        "tls1_0": "OpenSSL was built without TLS 1.0",
        "tls1_1": "OpenSSL was built without TLS 1.1",
    }
    monkeypatch.setattr(mod, "local_protocol_support", lambda: fake)
    async with TlsServer() as server:
        out = await audit(server)
    row = checks(out)["protocol_tls1_0"]
    assert (row["result_id"], row["passed"], row["severity"]) == ("protocol-tls1-0-unknown", False, "info")
    assert "built without TLS 1.0" in row["detail"]
    assert (facts(out)["tls1_0"], facts(out)["tls1_1"]) == ("unknown", "unknown")
    assert outcome(out, "mozilla_intermediate_protocols") == (
        "mozilla-intermediate-protocols-unknown",
        False,
        "info",
    )


def test_local_protocol_support_is_decided_by_a_real_handshake() -> None:
    """The loopback self-test says TLS 1.2 and 1.3 work here, and TLS 1.0 iff ssl was built with it."""
    support = mod.local_protocol_support()
    assert support["tls1_2"] is None and support["tls1_3"] is None
    if not ssl.HAS_TLSv1:
        assert support["tls1_0"] is not None


async def test_tls10_only_server() -> None:
    """TLS 1.0 only: no default client connects, yet the chain is judged; TLS 1.2 missing is medium."""
    async with TlsServer(min_version=TLS10, max_version=TLS10) as server:
        if not await speaks_tls10(server.port):
            pytest.skip("this machine's OpenSSL cannot speak TLS 1.0")
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
    if importlib.util.find_spec("intgkit.frames") is not None:
        frame = results.to_frame("findings")
        row = frame[(frame["target"] == server.target) & (frame["check"] == "expiration")].iloc[0]
        assert (row["result_id"], row["severity"], bool(row["passed"])) == (
            "expiration-under-30-days",
            "high",
            False,
        )
        assert len(frame) == 13
    else:
        rows = good.section("findings").rows
        assert len(rows) == 13
        assert next(r for r in rows if r["check"] == "expiration")["severity"] == "high"
    assert good.section("certificate").rows[0]["chain_valid"] is True
