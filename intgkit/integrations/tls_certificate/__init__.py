"""TLS certificate, served chain, protocols, cipher suites and OCSP stapling of one endpoint.

Checks and severities (testssl.sh @9fdf802 for ratings, sslyze 6.3.1 for what is measured,
Mozilla's Server Side TLS guidelines 5.7 for the profiles); every finding also carries a
one-line plain-language ``explanation``:

=============================  ===============================================================
chain_of_trust                 a default client's verification fails: critical
hostname                       no subjectAltName (even with a matching CN) or no SAN matches
                               the host: high; matched through a wildcard: low
expiration                     expired or not yet valid critical; < 30 days high; < 60 medium
lifespan                       >= 10 years high; >= 5 years medium; > 398 days (issued after
                               2020-09-01) medium
key_size                       RSA/DSA <= 512 critical, <= 768 high, <= 1024 medium;
                               EC <= 110 critical, <= 123 high, <= 163 medium
signature_algorithm            the leaf's: MD2/MD4/MD5 critical; SHA-1 medium
chain_sha1                     SHA-1 (or weaker) anywhere in the served chain but a root: medium
chain_order                    a certificate not followed by its issuer: low
chain_root                     whether the root is sent (info)
client_certificate             required / optional / not requested (info)
ocsp_stapling                  not stapled low; stale or wrong medium; revoked critical
protocol_ssl3_0 ... tls1_3     SSL 3.0 offered high; TLS 1.0/1.1 offered low; TLS 1.2 missing
                               medium; TLS 1.3 missing low
cipher_<class>                 suites accepted per version: NULL, anonymous, EXPORT critical;
                               RC4 and DES/RC2/MD5 high; 3DES/IDEA medium; CBC at TLS 1.0/1.1
                               low; no forward secrecy low (medium if none has it)
mozilla_modern/_intermediate   each profile met or not (issues keyed as sslyze keys them);
/_old                          not met: modern info, intermediate medium, old high
=============================  ===============================================================

Sections: ``findings``; ``certificate`` (one row of facts: names, dates, key, chain, protocol
states, client certificate, OCSP, the strictest Mozilla profile met); ``cipher_suites`` (one
row per accepted suite and version, with its weaknesses).

How (one module per part): :mod:`._connection` makes full handshakes with the stdlib ``ssl``
module (the browser-like verdict on the chain, the served chain itself); :mod:`._scan` sends
raw ClientHellos (:mod:`._wire`) to learn the versions and suites, the TLS <= 1.2 flight (OCSP
staple, certificate request, key-exchange sizes), concurrently but at most
``PER_HOST_CONNECTIONS`` (8) connections to the server at once, within its own time budget
(``scan_timeout``); :mod:`._parse` reads certificates; :mod:`._chain`, :mod:`._ocsp`,
:mod:`._protocols` and :mod:`._mozilla` are the check families; :mod:`._report` the findings.

Target: a host name, ``host:port`` or an ``https://`` URL (port 443 by default); the address
comes from ``INTGKIT_RESOLVE`` when it names the host, and SNI and the name check use the host.
"""

from __future__ import annotations

from ._integration import TlsCertificate
from ._parse import match_hostname, parse_certificate
from ._scan import PER_HOST_CONNECTIONS

__all__ = ["PER_HOST_CONNECTIONS", "TlsCertificate", "integration", "match_hostname", "parse_certificate"]

integration = TlsCertificate()
