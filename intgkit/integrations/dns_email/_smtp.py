"""The domain's mail servers: does each MX host offer STARTTLS (RFC 3207), with what certificate.

One short SMTP conversation per MX host, all hosts at once: read the greeting, EHLO, and if
STARTTLS is offered, upgrade and verify the certificate against the trust roots and the MX
host's name (what an MTA-STS sender demands, RFC 8461 §4.2), then QUIT. No mail is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

from .._findings import clip
from .._net import parse_endpoints, resolve_endpoint, ssl_context
from ._catalogue import Report
from ._lookup import Lookup

__all__ = ["MAX_MX_PROBED", "probe_mx", "smtp_findings"]

MAX_MX_PROBED = 5  # the lowest-preference hosts first; more would only repeat the verdict
_MAX_REPLY = 64 * 1024


async def _reply(reader: asyncio.StreamReader) -> tuple[int, list[str]]:
    """One SMTP reply (RFC 5321 §4.2: ``NNN-`` continues, ``NNN `` ends): (code, lines)."""
    lines: list[str] = []
    size = 0
    while True:
        raw = await reader.readline()
        if not raw:
            raise ConnectionError("the server closed the connection")
        size += len(raw)
        if size > _MAX_REPLY:
            raise ConnectionError("the server's reply is too long")
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if len(line) < 3 or not line[:3].isdigit():
            raise ConnectionError(f"not an SMTP reply: {clip(line, 80)!r}")
        lines.append(line[4:])
        if line[3:4] != "-":
            return int(line[:3]), lines


async def probe_mx(
    host: str, lookup: Lookup, *, resolve: str | None, ca_bundle: str | None, timeout: float
) -> dict[str, Any]:
    """Talk to ``host`` on port 25; the ``mx`` facts row (``error`` says why it failed)."""
    row: dict[str, Any] = {
        "host": host,
        "address": None,
        "starttls": None,
        "tls_version": None,
        "certificate_subject": None,
        "certificate_not_after": None,
        "certificate_error": None,
        "error": None,
    }
    address, port = resolve_endpoint(parse_endpoints(resolve), host, 25)
    if address == host:
        answer = await lookup(host, "A")
        if not answer.texts:
            answer = await lookup(host, "AAAA")
        if not answer.texts:
            row["error"] = answer.why(host, "A/AAAA") if answer.failed else f"{host} has no address"
            return row
        address = answer.texts[0]
    row["address"] = f"{address}:{port}"
    try:
        async with asyncio.timeout(timeout):
            await _converse(host, address, port, row, ca_bundle)
    except TimeoutError:
        row["error"] = f"no SMTP answer from {host} ({address}:{port}) within {timeout:g} s"
    except (OSError, ConnectionError, ssl.SSLError, ValueError) as exc:
        row["error"] = clip(f"{host} ({address}:{port}): {type(exc).__name__}: {exc}", 300)
    return row


async def _converse(host: str, address: str, port: int, row: dict[str, Any], ca_bundle: str | None) -> None:
    reader, writer = await asyncio.open_connection(address, port)
    try:
        code, _ = await _reply(reader)
        if code != 220:
            raise ConnectionError(f"greeting {code} instead of 220")
        writer.write(b"EHLO intgkit.invalid\r\n")
        await writer.drain()
        code, lines = await _reply(reader)
        if code != 250:
            raise ConnectionError(f"EHLO answered {code}")
        offered = any(line.split(" ")[0].upper() == "STARTTLS" for line in lines[1:])
        row["starttls"] = offered
        if not offered:
            return
        writer.write(b"STARTTLS\r\n")
        await writer.drain()
        code, _ = await _reply(reader)
        if code != 220:
            raise ConnectionError(f"STARTTLS answered {code}")
        try:
            await writer.start_tls(ssl_context(ca_bundle), server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            row["certificate_error"] = clip(str(exc.verify_message or exc), 300)
            return
        sslobj = writer.get_extra_info("ssl_object")
        if sslobj is not None:
            row["tls_version"] = sslobj.version()
            cert = sslobj.getpeercert() or {}
            subject = dict(x[0] for x in cert.get("subject", ()) if x)
            row["certificate_subject"] = clip(str(subject.get("commonName", "")), 200) or None
            row["certificate_not_after"] = cert.get("notAfter")
        writer.write(b"QUIT\r\n")
        await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, ConnectionError):
            await writer.wait_closed()


def smtp_findings(
    report: Report, mx_hosts: list[str] | None, mx_why: str, rows: list[dict[str, Any]]
) -> None:
    """The mx_starttls and mx_certificate findings from the probes' rows."""
    if mx_hosts is None:
        report.unknown("mx-starttls-unknown", "ERROR", mx_why)
        return
    if not mx_hosts:
        report.add("mx-none", None, "MX hosts offering STARTTLS", "no MX host (none, or a null MX)")
        return
    failed = [r for r in rows if r["error"]]
    plain = [r["host"] for r in rows if r["starttls"] is False]
    expected = "every MX host offers STARTTLS"
    if plain:
        report.add("mx-starttls-missing", plain, expected, "mail to these hosts is sent unencrypted")
    elif failed:
        report.unknown("mx-starttls-unknown", "ERROR", "; ".join(r["error"] for r in failed[:3]))
    else:
        report.add("mx-starttls-ok", [r["host"] for r in rows], expected)
    tls = [r for r in rows if r["starttls"]]
    if not tls:
        return
    bad = [f"{r['host']}: {r['certificate_error']}" for r in tls if r["certificate_error"]]
    expected_cert = "a trusted certificate naming the MX host"
    if bad:
        report.add("mx-certificate-invalid", bad, expected_cert)
    else:
        report.add("mx-certificate-valid", [r["host"] for r in tls], expected_cert)
