"""Full handshakes with the stdlib ``ssl`` module: what a default client sees, and the served chain.

The verified handshake is the browser-like verdict on the chain (``ssl.create_default_context``
with the configured roots, host name checked); OpenSSL's ``verify_code``/``verify_message`` say
why it failed. The unverified handshake reads the certificates when verification fails. The
served chain comes from OpenSSL's peer chain (``get_unverified_chain``: public from Python
3.13, the same call on the private ``_sslobj`` before). OpenSSL's error reasons are turned into
a plain-language sentence first, with OpenSSL's words kept in brackets for the expert.

Mutual TLS: a TLS 1.3 client finishes its handshake before the server has judged the client's
(empty) certificate; the server's ``certificate_required`` alert arrives one round trip later.
So after a TLS 1.3 handshake the connection is read briefly (:func:`_alert_wait`) for that
alert, and everything about the peer is read before, so the alert cannot break it.
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from dataclasses import dataclass
from typing import Any

from .._findings import clip
from .._net import ssl_context
from ._scan import ConnectFailed

LEGACY_CIPHERS = "ALL:@SECLEVEL=0"  # old suites, SHA-1 handshake signatures and small keys allowed

#: OpenSSL error reasons -> a sentence a non-specialist understands
_PLAIN: dict[str, str] = {
    "WRONG_VERSION_NUMBER": "the server did not answer in TLS: this port may serve plain HTTP or "
    "another protocol",
    "HTTP_REQUEST": "the server did not answer in TLS: this port may serve plain HTTP",
    "UNSUPPORTED_PROTOCOL": "the server and a default client have no TLS version in common",
    "TLSV1_ALERT_PROTOCOL_VERSION": "the server and a default client have no TLS version in common",
    "NO_PROTOCOLS_AVAILABLE": "the server and a default client have no TLS version in common",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the server refused the handshake: no cipher suite in common, "
    "or it wants a client certificate",
    "NO_SHARED_CIPHER": "the server and a default client have no cipher suite in common",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate (mutual TLS)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server rejected the client's certificate (mutual TLS)",
    "DH_KEY_TOO_SMALL": "the server's Diffie-Hellman key is too small for a default client",
    "UNEXPECTED_EOF_WHILE_READING": "the server closed the connection during the handshake",
    "TLSV1_UNRECOGNIZED_NAME": "the server does not know the host name asked for (SNI)",
    "TLSV1_ALERT_INTERNAL_ERROR": "the server failed during the handshake (it sent an internal-error alert)",
}
_CLIENT_CERT_ALERTS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "SSLV3_ALERT_HANDSHAKE_FAILURE",
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "TLSV1_ALERT_UNKNOWN_CA",
    "TLSV1_ALERT_ACCESS_DENIED",
}


def explain(exc: BaseException) -> str:
    """A plain-language sentence for a failed handshake, OpenSSL's own words after it."""
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        openssl = reason.lower().replace("_", " ") if reason else str(exc)
        plain = _PLAIN.get(reason, "the TLS handshake failed")
        return f"{plain} (OpenSSL: {openssl})"
    if isinstance(exc, ConnectionResetError):
        return "the server closed the connection during the handshake (connection reset)"
    if isinstance(exc, EOFError):
        return "the server closed the connection during the handshake"
    return str(exc) or type(exc).__name__


def set_versions(ctx: ssl.SSLContext, low: ssl.TLSVersion, high: ssl.TLSVersion) -> None:
    with warnings.catch_warnings():  # ssl deprecates the TLSv1/TLSv1_1 members when set
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = low
        ctx.maximum_version = high


def unverified_context() -> ssl.SSLContext:
    """A client that completes a handshake with almost anything, to read the certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers(LEGACY_CIPHERS)
    set_versions(ctx, ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.MAXIMUM_SUPPORTED)
    return ctx


def verified_context(cafile: str | None, *, legacy: bool, check_hostname: bool = True) -> ssl.SSLContext:
    """A default client; ``legacy`` also speaks TLS < 1.2 and security level 0."""
    ctx = ssl_context(cafile)
    ctx.check_hostname = check_hostname
    if legacy:
        ctx.set_ciphers(LEGACY_CIPHERS)
        set_versions(ctx, ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.MAXIMUM_SUPPORTED)
    return ctx


@dataclass(frozen=True, slots=True)
class Handshake:
    """One handshake's outcome: ok, cert (verification failed), tls (failed), timeout.

    ``client_cert_required`` is True when the server refused to go on without a client
    certificate (its alert during a TLS 1.2 handshake, or right after a TLS 1.3 one).
    """

    kind: str
    version: str | None = None
    cipher: str | None = None
    bits: int | None = None
    chain: tuple[bytes, ...] = ()
    verify_code: int | None = None
    verify_message: str | None = None
    error: str | None = None
    client_cert_required: bool = False
    #: the server closed the connection right after a TLS 1.3 handshake (a mutual-TLS server
    #: that drops clients without a certificate instead of sending the alert does this)
    closed_early: bool = False

    @property
    def der(self) -> bytes | None:
        """The leaf, DER."""
        return self.chain[0] if self.chain else None


def _served_chain(sslobj: Any) -> tuple[bytes, ...]:
    """The certificates the server sent, leaf first, DER (empty if the library cannot say)."""
    getter = getattr(sslobj, "get_unverified_chain", None)  # Python >= 3.13
    if getter is None:
        getter = getattr(getattr(sslobj, "_sslobj", None), "get_unverified_chain", None)
    if getter is None:
        leaf = sslobj.getpeercert(binary_form=True)
        return (leaf,) if leaf else ()
    out = []
    for cert in getter() or ():
        out.append(cert if isinstance(cert, bytes) else cert.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
    return tuple(out)


def _alert_wait(rtt: float, handshake: float, timeout: float) -> float:
    """How long to wait for a post-handshake alert: at least 0.1 s, a few round trips, and twice
    the handshake's own time (a busy server is slow to judge the client's flight too)."""
    return min(timeout, max(0.1, 4 * rtt, 2 * handshake))


async def handshake(
    address: str, port: int, server_hostname: str, ctx: ssl.SSLContext, timeout: float
) -> Handshake:
    """Connect, then handshake; TCP failures raise :class:`ConnectFailed`, TLS outcomes are returned."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except TimeoutError:
        raise ConnectFailed(f"no TCP connection within {timeout:g} s") from None
    except OSError as exc:
        raise ConnectFailed(exc.strerror or str(exc) or type(exc).__name__) from None
    rtt = loop.time() - started
    secured = False
    shaking = loop.time()
    try:
        try:
            # wait_for, not only ssl_handshake_timeout: that one surfaces as a reset connection,
            # which would read as "refused" rather than "no answer"
            await asyncio.wait_for(
                writer.start_tls(ctx, server_hostname=server_hostname, ssl_handshake_timeout=timeout * 2),
                timeout,
            )
        except ssl.SSLCertVerificationError as exc:
            return Handshake(
                "cert",
                verify_code=exc.verify_code,
                verify_message=clip(exc.verify_message),
                error=clip(str(exc)),
            )
        except TimeoutError:
            return Handshake("timeout", error=f"no TLS handshake within {timeout:g} s")
        except (ssl.SSLError, OSError, EOFError) as exc:
            # only TLS 1.3's own alert says so: a handshake_failure during a TLS 1.2 handshake
            # may as well mean "no suite in common" (the caller asks the server's flight)
            required = isinstance(exc, ssl.SSLError) and exc.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
            return Handshake("tls", error=clip(explain(exc)), client_cert_required=required)
        secured = True
        sslobj = writer.get_extra_info("ssl_object")
        if sslobj is None:  # pragma: no cover - start_tls always sets it
            return Handshake("tls", error="the TLS layer gave no details of the handshake")
        try:  # read everything now: a mutual-TLS alert may tear the session down next
            cipher = sslobj.cipher()
            # version() is None once an alert has ended the session; cipher() still names it
            torn_down = sslobj.version() is None
            version = sslobj.version() or (cipher[1] if cipher else None)
            chain = _served_chain(sslobj)
        except ValueError as exc:  # "handshake not done yet": the alert came first
            return Handshake("tls", error=clip(explain(exc)), client_cert_required=True)
        required = closed = False
        if version == "TLSv1.3" or torn_down:
            try:
                wait = _alert_wait(rtt, loop.time() - shaking, timeout)
                closed = not await asyncio.wait_for(reader.read(1), wait)
            except ssl.SSLError as exc:
                required = exc.reason in _CLIENT_CERT_ALERTS
            except TimeoutError:  # before OSError, its base class: no alert, still open
                pass
            except (OSError, EOFError):
                closed = True
        return Handshake(
            "ok",
            version=version,
            cipher=clip(cipher[0]) if cipher else None,
            bits=cipher[2] if cipher else None,
            chain=chain,
            client_cert_required=required,
            closed_early=closed,
        )
    finally:
        if secured:  # close_notify, briefly awaited
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1)
            except TimeoutError:
                writer.transport.abort()
            except (OSError, EOFError, ssl.SSLError):  # a reset or an alert on close
                pass
        else:  # a failed start_tls closed the socket without telling the stream: nothing to await
            writer.transport.abort()
