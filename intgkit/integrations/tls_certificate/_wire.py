"""TLS on the wire: the ClientHello we send and the server's first flight we read (pure functions).

Why by hand: a ClientHello is plain bytes, and so is everything a TLS 1.2 server answers before
the keys are agreed (ServerHello, Certificate, CertificateStatus, ServerKeyExchange,
CertificateRequest, ServerHelloDone; RFC 5246 §7.4). Reading that flight tells which protocol
version and cipher suite a server picks from a list we choose, which chain it serves, whether
it staples an OCSP response and whether it asks for a client certificate, without completing a
handshake and without depending on which suites this machine's OpenSSL still implements (it
has no EXPORT, RC4 or NULL suites any more, so it could not test for them). This is how
testssl.sh's socket tests work; sslyze drives a legacy OpenSSL build (nassl) instead. TLS 1.3
encrypts everything after the ServerHello, so for 1.3 only the version and suite are read here.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

SSL3, TLS10, TLS11, TLS12, TLS13 = 0x0300, 0x0301, 0x0302, 0x0303, 0x0304

# record content types and handshake message types (RFC 5246 §6.2.1, §7.4; RFC 8446 §4)
_ALERT, _HANDSHAKE = 21, 22
_SERVER_HELLO, _CERTIFICATE, _SERVER_KEY_EXCHANGE = 2, 11, 12
_CERTIFICATE_REQUEST, _SERVER_HELLO_DONE, _CERTIFICATE_STATUS = 13, 14, 22
#: ServerHello.random of a TLS 1.3 HelloRetryRequest (RFC 8446 §4.1.3)
_HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()

# named groups offered (RFC 8446 §4.2.7, RFC 7919): x25519 first, then the NIST curves and FFDHE
_GROUPS = (0x001D, 0x0017, 0x0018, 0x0019, 0x001E, 0x0100, 0x0101, 0x0102)
GROUP_NAMES = {
    0x0017: ("secp256r1", 256),
    0x0018: ("secp384r1", 384),
    0x0019: ("secp521r1", 521),
    0x001D: ("X25519", 256),
    0x001E: ("X448", 448),
    0x0016: ("secp256k1", 256),
    0x0015: ("secp224r1", 224),
    0x0013: ("secp192r1", 192),
}
# signature schemes offered (RFC 8446 §4.2.3): every common one, SHA-1 included, so that
# old servers still answer; we never verify a signature
_SIGNATURE_SCHEMES = (
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0809, 0x080A, 0x080B,
    0x0401, 0x0501, 0x0601, 0x0303, 0x0301, 0x0302, 0x0203, 0x0201, 0x0202,
)  # fmt: skip

#: TLS alert descriptions (RFC 8446 §6 and RFC 5246 §7.2), for messages
ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    40: "handshake_failure",
    42: "bad_certificate",
    47: "illegal_parameter",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
    116: "certificate_required",
    120: "no_application_protocol",
}


def _vector(data: bytes, length_bytes: int) -> bytes:
    return len(data).to_bytes(length_bytes, "big") + data


def _extension(kind: int, body: bytes) -> bytes:
    return struct.pack("!H", kind) + _vector(body, 2)


def client_hello(version: int, suites: Sequence[int], server_name: str | None) -> bytes:
    """One ClientHello record offering ``suites`` at ``version`` (SSL 3.0 to TLS 1.3).

    TLS 1.3 is offered through the supported_versions extension with an x25519 key share (any
    32 bytes are a valid x25519 public value: we never finish the handshake). Every hello asks
    for a stapled OCSP response (status_request) and carries SNI unless ``server_name`` is None.
    """
    if not suites:
        raise ValueError("a ClientHello needs at least one cipher suite")
    legacy_version = min(version, TLS12)
    ext = b""
    if version >= TLS10:  # SSL 3.0 servers may choke on extensions
        if server_name:
            name = server_name.encode("idna")
            ext += _extension(0x0000, _vector(b"\x00" + _vector(name, 2), 2))
        ext += _extension(0x0005, b"\x01\x00\x00\x00\x00")  # status_request: OCSP, no ids, no exts
        ext += _extension(0x000A, _vector(b"".join(struct.pack("!H", g) for g in _GROUPS), 2))
        ext += _extension(0x000B, b"\x01\x00")  # ec_point_formats: uncompressed
        ext += _extension(0x000D, _vector(b"".join(struct.pack("!H", s) for s in _SIGNATURE_SCHEMES), 2))
        ext += _extension(0x0017, b"")  # extended_master_secret
        ext += _extension(0xFF01, b"\x00")  # renegotiation_info (initial handshake)
        if version >= TLS13:
            ext += _extension(0x002B, _vector(struct.pack("!H", TLS13), 1))  # supported_versions
            ext += _extension(0x002D, b"\x01\x01")  # psk_key_exchange_modes: psk_dhe_ke
            share = struct.pack("!H", 0x001D) + _vector(os.urandom(32), 2)
            ext += _extension(0x0033, _vector(share, 2))  # key_share
    body = (
        struct.pack("!H", legacy_version)
        + os.urandom(32)
        + _vector(os.urandom(32) if version >= TLS13 else b"", 1)  # legacy_session_id
        + _vector(b"".join(struct.pack("!H", s) for s in suites), 2)
        + b"\x01\x00"  # compression: null only
        + (_vector(ext, 2) if ext else b"")
    )
    handshake = bytes([1]) + _vector(body, 3)
    return bytes([_HANDSHAKE]) + struct.pack("!H", min(version, TLS10)) + _vector(handshake, 2)


@dataclass(slots=True)
class ServerFlight:
    """What a server answered to one ClientHello, as far as it was read.

    ``version`` and ``suite`` come from the ServerHello (None when there was none, e.g. an
    alert); ``alert`` is the alert description the server sent instead. The other fields are
    read from the rest of a TLS <= 1.2 flight.
    """

    version: int | None = None
    suite: int | None = None
    hello_retry: bool = False
    certificates: list[bytes] = field(default_factory=list)
    ocsp_response: bytes | None = None
    client_cert_requested: bool = False
    #: the ServerKeyExchange body, read by :func:`ephemeral_key`
    key_exchange: bytes | None = None
    alert: int | None = None
    done: bool = False
    #: the server answered with something that is not TLS (a plain-HTTP port, say)
    not_tls: bool = False

    @property
    def alert_name(self) -> str | None:
        """The alert's name (``handshake_failure``), or its number when unknown."""
        return None if self.alert is None else ALERTS.get(self.alert, str(self.alert))


class FlightReader:
    """Feed it the bytes a server sends; it parses records and handshake messages as they come.

    Args:
        full: keep reading after the ServerHello, up to ServerHelloDone (TLS <= 1.2), to collect
            the chain, the OCSP staple, the key exchange and a certificate request.
    """

    def __init__(self, *, full: bool) -> None:
        self.full = full
        self.flight = ServerFlight()
        self._records = b""
        self._handshake = b""

    @property
    def finished(self) -> bool:
        """Whether enough has been read: an alert, the end of the flight, or a ServerHello."""
        f = self.flight
        if f.alert is not None or f.done:
            return True
        if f.version is None:
            return False
        return not self.full or f.version >= TLS13 or f.hello_retry

    def feed(self, data: bytes) -> None:
        """Parse whatever complete records ``data`` completes; raise ValueError on garbage."""
        self._records += data
        while len(self._records) >= 5 and not self.finished:
            kind, _, length = struct.unpack("!BHH", self._records[:5])
            if kind not in (20, 21, 22, 23) or length > (1 << 14) + 2048:
                raise ValueError("the answer is not TLS")
            if len(self._records) < 5 + length:
                return
            payload, self._records = self._records[5 : 5 + length], self._records[5 + length :]
            if kind == _ALERT:
                if len(payload) >= 2:
                    self.flight.alert = payload[1]
                else:
                    raise ValueError("a truncated TLS alert")
            elif kind == _HANDSHAKE:
                self._handshake += payload
                self._messages()
            elif self.flight.version is None:
                raise ValueError("TLS records before the ServerHello")
            else:  # ChangeCipherSpec or encrypted data (TLS 1.3): nothing more to read in clear
                self.flight.done = True

    def _messages(self) -> None:
        while len(self._handshake) >= 4 and not self.finished:
            kind = self._handshake[0]
            length = int.from_bytes(self._handshake[1:4], "big")
            if len(self._handshake) < 4 + length:
                return
            body, self._handshake = self._handshake[4 : 4 + length], self._handshake[4 + length :]
            if self.flight.version is None and kind != _SERVER_HELLO:
                raise ValueError(f"handshake message {kind} before the ServerHello")
            if kind == _SERVER_HELLO:
                self._server_hello(body)
            elif kind == _CERTIFICATE:
                self._certificate(body)
            elif kind == _CERTIFICATE_STATUS and body[:1] == b"\x01":
                self.flight.ocsp_response = body[4 : 4 + int.from_bytes(body[1:4], "big")]
            elif kind == _SERVER_KEY_EXCHANGE:
                self._key_exchange(body)
            elif kind == _CERTIFICATE_REQUEST:
                self.flight.client_cert_requested = True
            elif kind == _SERVER_HELLO_DONE:
                self.flight.done = True

    def _server_hello(self, body: bytes) -> None:
        if len(body) < 38:
            raise ValueError("a truncated ServerHello")
        version = struct.unpack("!H", body[:2])[0]
        random = body[2:34]
        sid_len = body[34]
        at = 35 + sid_len
        suite = struct.unpack("!H", body[at : at + 2])[0]
        at += 3  # suite, compression
        if len(body) >= at + 2:
            ext_end = at + 2 + struct.unpack("!H", body[at : at + 2])[0]
            at += 2
            while at + 4 <= min(ext_end, len(body)):
                kind, length = struct.unpack("!HH", body[at : at + 4])
                if kind == 0x002B and length == 2:  # supported_versions: the real version
                    version = struct.unpack("!H", body[at + 4 : at + 6])[0]
                at += 4 + length
        self.flight.version = version
        self.flight.suite = suite
        self.flight.hello_retry = random == _HRR_RANDOM

    def _certificate(self, body: bytes) -> None:
        total = int.from_bytes(body[:3], "big")
        at, end = 3, min(3 + total, len(body))
        while at + 3 <= end:
            length = int.from_bytes(body[at : at + 3], "big")
            self.flight.certificates.append(body[at + 3 : at + 3 + length])
            at += 3 + length

    def _key_exchange(self, body: bytes) -> None:
        self.flight.key_exchange = body


def ephemeral_key(key_exchange: bytes, *, ecdhe: bool) -> tuple[str, str | None, int] | None:
    """(kind, group name, bits) of a ServerKeyExchange: ("ECDH", "X25519", 256), ("DH", None, 2048).

    The message's layout depends on the suite's key exchange, hence ``ecdhe``.
    """
    if ecdhe:
        if key_exchange[:1] != b"\x03" or len(key_exchange) < 3:  # named_curve only
            return None
        group = struct.unpack("!H", key_exchange[1:3])[0]
        name, bits = GROUP_NAMES.get(group, (f"group 0x{group:04x}", 0))
        return ("ECDH", name, bits)
    if len(key_exchange) < 2:
        return None
    p_len = struct.unpack("!H", key_exchange[:2])[0]  # dh_p is the first vector: the group's size
    p = key_exchange[2 : 2 + p_len]
    return ("DH", None, int.from_bytes(p, "big").bit_length()) if p else None
