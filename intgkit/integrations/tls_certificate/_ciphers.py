"""The cipher-suite registry and what makes a suite weak (pure functions over IANA names).

The code points and names are IANA's (``cipher_suites.json`` names its transcription). A
suite's properties are read from its IANA name, which spells them out:
``TLS_<key exchange>[_<authentication>][_EXPORT]_WITH_<cipher>_<MAC>``, or ``TLS_<AEAD>_<hash>``
for TLS 1.3. The weakness classes and their severities are testssl.sh's ``run_cipherlists``
(testssl/testssl.sh @9fdf802): NULL, anonymous and EXPORT suites critical; "LOW" suites (single
DES, RC2, RC4, MD5 MACs) high (RC4 reported on its own, as the issue asks); 3DES and IDEA
medium; CBC suites at TLS 1.0/1.1 (BEAST, Lucky13, no AEAD possible) low; suites without
forward secrecy low (medium when the server offers none with it, as ``run_fs`` rates it).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

#: weakness class -> (severity, one-line explanation for a non-specialist)
WEAKNESSES: dict[str, tuple[str, str]] = {
    "null": ("critical", "NULL suites send data unencrypted: anyone on the path can read it"),
    "anonymous": (
        "critical",
        "anonymous suites skip the certificate, so anyone on the path can impersonate the server",
    ),
    "export": (
        "critical",
        "EXPORT suites use 40- or 56-bit keys from the 1990s export rules; they are broken in minutes",
    ),
    "rc4": ("high", "RC4 is a broken cipher (RFC 7465 forbids it); its biases leak data such as cookies"),
    "low_grade": ("high", "single DES, RC2 or MD5 suites are broken by today's computers"),
    "3des": ("medium", "3DES and IDEA use 64-bit blocks: long connections leak data (the Sweet32 attack)"),
    "cbc_legacy": (
        "low",
        "CBC suites at TLS 1.0/1.1 are exposed to padding and BEAST attacks; TLS 1.2 AEAD suites are not",
    ),
    "no_forward_secrecy": (
        "low",
        "without forward secrecy, anyone who later obtains the server's key can decrypt recorded traffic",
    ),
}

_TLS13 = re.compile(r"^TLS_(AES_\d+_(GCM|CCM(_8)?)|CHACHA20_POLY1305)_SHA\d+$")


@dataclass(frozen=True, slots=True)
class Suite:
    """One cipher suite, by its IANA name, with the properties its name spells out."""

    code: int
    name: str
    key_exchange: str
    cipher: str
    bits: int
    forward_secrecy: bool
    aead: bool
    cbc: bool
    #: weakness classes that hold at any protocol version (see :data:`WEAKNESSES`)
    weaknesses: tuple[str, ...]

    @property
    def tls13(self) -> bool:
        return self.key_exchange == "any"


def _bits(cipher: str) -> int:
    if cipher.startswith("NULL"):
        return 0
    if "3DES" in cipher:
        return 112  # three 56-bit keys, 112 bits of strength (NIST SP 800-57)
    if "DES40" in cipher or "_40" in cipher or cipher.endswith("40"):
        return 40
    if cipher.startswith("DES"):
        return 56
    if cipher.startswith("CHACHA20"):
        return 256
    m = re.search(r"_(\d{3})", cipher)
    return int(m.group(1)) if m else 128  # IDEA, SEED: 128-bit keys


def describe(code: int, name: str) -> Suite:
    """A suite's properties from its IANA name (``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256``)."""
    if _TLS13.match(name):
        cipher = name[4:].rsplit("_", 1)[0]
        return Suite(code, name, "any", cipher, _bits(cipher), True, True, False, ())
    if "_WITH_" not in name:
        raise ValueError(f"{name!r} is not an IANA cipher suite name")
    kx, _, rest = name[4:].partition("_WITH_")
    mac_match = re.search(r"_(MD5|SHA\d*|NULL)$", rest)
    cipher = rest[: mac_match.start()] if mac_match else rest
    mac = mac_match.group(1) if mac_match else "AEAD"
    aead = bool(re.search(r"GCM|CCM|POLY1305", cipher))
    cbc = "_CBC" in cipher or cipher.startswith("DES40_CBC")
    export = "EXPORT" in kx or "EXPORT" in cipher or _bits(cipher) == 40
    weaknesses: list[str] = []
    if cipher.startswith("NULL"):
        weaknesses.append("null")
    if "anon" in kx or kx == "NULL":
        weaknesses.append("anonymous")
    if export:
        weaknesses.append("export")
    if cipher.startswith("RC4"):
        weaknesses.append("rc4")
    elif (
        not export and (cipher.startswith(("DES_", "RC2")) or mac == "MD5") and not cipher.startswith("NULL")
    ):
        weaknesses.append("low_grade")
    if "3DES" in cipher or cipher.startswith("IDEA"):
        weaknesses.append("3des")
    fs = kx.startswith(("ECDHE", "DHE")) and "anon" not in kx
    if not fs:
        weaknesses.append("no_forward_secrecy")
    return Suite(code, name, kx, cipher, _bits(cipher), fs, aead, cbc, tuple(weaknesses))


def weaknesses_at(suite: Suite, version: str) -> tuple[str, ...]:
    """The suite's weakness classes when accepted at ``version`` ("TLS 1.0" ...)."""
    extra = ("cbc_legacy",) if suite.cbc and version in ("SSL 3.0", "TLS 1.0", "TLS 1.1") else ()
    return suite.weaknesses + extra


@functools.cache
def registry() -> dict[int, Suite]:
    """Every suite of ``cipher_suites.json`` by code point."""
    data = json.loads((Path(__file__).parent / "cipher_suites.json").read_text(encoding="utf-8"))
    return {int(code, 16): describe(int(code, 16), name) for code, name in data["suites"]}


def tls13_codes() -> tuple[int, ...]:
    """The TLS 1.3 suites, in registry order."""
    return tuple(code for code, s in registry().items() if s.tls13)


def legacy_codes() -> tuple[int, ...]:
    """The suites of SSL 3.0 to TLS 1.2, in registry order."""
    return tuple(code for code, s in registry().items() if not s.tls13)
