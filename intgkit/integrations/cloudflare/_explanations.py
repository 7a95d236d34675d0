"""One plain-language line per check: why it matters, for a reader who is not a specialist.

Every finding of a check carries its line in the ``explanation`` column (the same for every
zone; what was seen on this zone is in ``observed`` and ``detail``). A check missing here is a
KeyError the moment it reports, so no finding goes out without one.
"""

from __future__ import annotations

EXPLANATIONS: dict[str, str] = {
    "ssl": (
        "How Cloudflare connects to your server: anything short of Full (strict) lets someone "
        "between Cloudflare and the server read or change the traffic."
    ),
    "min_tls_version": (
        "TLS 1.0 and 1.1 have known weaknesses and modern browsers no longer use them; "
        "accepting them only helps attackers."
    ),
    "always_use_https": "Sends plain-HTTP visitors to HTTPS, so nothing they send travels unencrypted.",
    "hsts": (
        "HSTS makes browsers use only HTTPS for the site, so an attacker cannot quietly "
        "downgrade a visit to plain HTTP."
    ),
    "hsts_include_subdomains": (
        "Extends HSTS to every subdomain, so no subdomain can be visited over plain HTTP and "
        "used to attack the main site."
    ),
    "hsts_preload": (
        "Preloading puts the site on the browsers' built-in HTTPS-only list, which protects "
        "even the very first visit."
    ),
    "nosniff": "Stops browsers from guessing a file's type, which can turn an uploaded file into a script.",
    "security_level": "Challenges visitors with a bad IP reputation before they reach the site.",
    "tls_1_3": "TLS 1.3 is faster and drops the weak options of older TLS versions.",
    "automatic_https_rewrites": (
        "Rewrites http:// links in pages to https://, so secure pages do not load insecure content."
    ),
    "browser_check": "Blocks requests whose headers look like those of bots and abusive tools.",
    "0rtt": (
        "0-RTT makes repeat visits faster, but an attacker who captures such an early request "
        "can send it again."
    ),
    "opportunistic_encryption": "Lets browsers that visit over http:// still encrypt the connection.",
    "ciphers": (
        "Old cipher suites (3DES, CBC with SHA-1, RSA key exchange) weaken the encryption of "
        "visitors' connections."
    ),
    "zone_paused": "A paused zone sends traffic straight to your server: no Cloudflare protection applies.",
    "dnssec": "DNSSEC signs the zone's DNS answers, so nobody can forge them and send visitors elsewhere.",
    "waf": "Firewall rules that block or challenge bad requests; rules that only skip or log protect none.",
    "waf_managed_cloudflare": (
        "Cloudflare's own managed rules block common attacks (injections, known exploits) "
        "before they reach the site."
    ),
    "waf_managed_owasp": (
        "The OWASP Core Ruleset scores every request against generic attack patterns and blocks the worst."
    ),
    "dns_proxied": (
        "A DNS record that is not proxied publishes your server's real address, so attackers "
        "can go around Cloudflare."
    ),
    "spf_origin": (
        "An SPF record listing the web server's address publishes it, so attackers can go around Cloudflare."
    ),
    "origin_pulls": (
        "Authenticated Origin Pulls lets your server accept only requests that come from "
        "Cloudflare, closing the way around it."
    ),
    "universal_ssl": (
        "Universal SSL gives the zone a free certificate; without it (or another certificate) "
        "visitors cannot use HTTPS."
    ),
    "certificates": (
        "An edge certificate that has expired or failed to renew makes browsers refuse the site over HTTPS."
    ),
    "hostname_tls": (
        "A per-hostname TLS setting overrides the zone's; a weaker one there re-opens what the zone closed."
    ),
}
