"""A fake Cloudflare API v4 on 127.0.0.1, over HTTPS with a throwaway CA, for offline tests.

It answers the read endpoints the ``cloudflare`` integration uses, with Cloudflare's envelope
(``success, errors, messages, result, result_info``) and its page-number pagination, so the
integration (or yours) runs against it unchanged: point the API base at :attr:`base_url` and
the trust roots at :attr:`ca_bundle`.

    async with FakeCloudflare(token="test-token") as cf:
        cf.add_zone("example.com", settings={"ssl": "flexible"})
        ...  # call the API at cf.base_url, trusting cf.ca_bundle

Behaviour, modelled on api.cloudflare.com (see intgkit's security-check notes §4):

- ``Authorization: Bearer <token>`` must match: a wrong token gets HTTP 403 with code 9109
  "Invalid access token" (as cert-manager/cert-manager#4465 and jeessy2/ddns-go#1341 show
  the real API answering), a missing header HTTP 400 with code 9106.
- The token holds :attr:`FakeCloudflare.permissions` (default: every permission group the
  integration reads with); an endpoint whose permission group it lacks answers HTTP 403 with
  code 10000 "Authentication error", as cloudflare/terraform-provider-cloudflare#1533 shows for a
  valid token missing a permission. Cloudflare publishes no table of its error codes
  (favonia/cloudflare-ddns#897), so clients branch on the HTTP status, not on these codes.
- ``GET /zones`` filters by ``name`` (exact, case-insensitive) and ``status``, paginates with
  ``page`` and ``per_page`` (default 20, clamped to 5..50); ``dns_records`` the same way
  (default 100, clamped to 5..5000).
- ``GET /zones/{id}`` and, below it, ``/settings/{setting}``, ``/dns_records``, ``/dnssec``,
  ``/rulesets/phases/{phase}/entrypoint`` (HTTP 404, code 10003, when the phase has no rules),
  ``/ssl/universal/settings``, ``/ssl/certificate_packs`` (active packs; ``status=all`` for
  every one), ``/origin_tls_client_auth/settings`` and ``/hostnames/settings/{setting}``
  (per-hostname TLS overrides), and ``GET /user/tokens/verify``.
- Every answer validates against the official ``cloudflare`` SDK's models (5.9.0), with no
  field they lack: tests/test_cloudflare_sdk_shapes.py keeps it so.
- ``budget=(N, period)`` enforces Cloudflare's global limit as documented
  (developers.cloudflare.com/fundamentals/api/reference/limits: "1,200 requests per five minute
  period per user [...] If you exceed this limit, all API calls for the next five minutes will
  be blocked, receiving a HTTP 429"), in its strictest reading: a *rolling* window (no N + 1
  requests in any ``period`` seconds, wherever the window falls, so a client that keeps to it
  keeps to a fixed window too), and a request beyond it blocks every request for the next
  ``period`` seconds, each answered 429 with ``Retry-After`` the whole seconds left, rounded up.
  Refused requests do not count toward the budget.
- :meth:`FakeCloudflare.rate_limit` makes the next N requests answer 429 with Retry-After;
  :meth:`FakeCloudflare.fail` makes one path answer an envelope error.

Every request is recorded in :attr:`FakeCloudflare.requests`: method, path, query, whether an
Authorization header came and whether it matched. The token itself is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "CLOUDFLARE_MANAGED_RULESET",
    "OWASP_CORE_RULESET",
    "CloudflareRequest",
    "FakeCertificate",
    "FakeCertificatePack",
    "FakeCloudflare",
    "FakeRecord",
    "FakeZone",
    "execute_managed",
    "secure_zone_settings",
    "universal_pack",
]

PREFIX = "/client/v4"
#: Cloudflare's error codes the fake answers with (see the module docstring for the sources).
INVALID_TOKEN = (9109, "Invalid access token")
MISSING_PERMISSION = (10000, "Authentication error")
#: The API token permission groups (developers.cloudflare.com/fundamentals/api/reference/
#: permissions) of the endpoints the fake serves.
PERMISSIONS = ("Zone Read", "Zone Settings Read", "DNS Read", "Zone WAF Read", "SSL and Certificates Read")
_STAMP = "2024-01-01T00:00:00.000000Z"


def secure_zone_settings() -> dict[str, Any]:
    """Setting values for which every check of the ``cloudflare`` integration passes."""
    return {
        "ssl": "strict",
        "min_tls_version": "1.2",
        "always_use_https": "on",
        "security_header": {
            "strict_transport_security": {
                "enabled": True,
                "max_age": 31536000,
                "include_subdomains": True,
                "preload": True,
                "nosniff": True,
            }
        },
        "security_level": "medium",
        "tls_1_3": "on",
        "automatic_https_rewrites": "on",
        "browser_check": "on",
        "0rtt": "off",
        "opportunistic_encryption": "on",
        "ciphers": [],
        "tls_1_2_only": "off",
    }


#: The managed WAF rulesets' ids, the same in every account (developers.cloudflare.com/waf/
#: managed-rules/reference/).
CLOUDFLARE_MANAGED_RULESET = "efb7b8c949ac4650a09736fc376e9aee"
OWASP_CORE_RULESET = "4814384a9e5d4991b9815dcfc25d2f1f"


def execute_managed(ruleset_id: str, **overrides: Any) -> dict[str, Any]:
    """A managed-phase rule deploying a managed ruleset, with optional ``overrides``."""
    params: dict[str, Any] = {"id": ruleset_id}
    if overrides:
        params["overrides"] = overrides
    return {"action": "execute", "expression": "true", "action_parameters": params, "enabled": True}


def _default_rulesets() -> dict[str, list[dict[str, Any]]]:
    return {
        "http_request_firewall_custom": [
            {
                "action": "block",
                "expression": '(http.request.uri.path contains "/wp-login.php")',
                "description": "block wp-login probes",
                "enabled": True,
            },
        ],
        "http_request_firewall_managed": [
            execute_managed(CLOUDFLARE_MANAGED_RULESET),
            execute_managed(OWASP_CORE_RULESET),
        ],
    }


@dataclass(frozen=True, slots=True)
class FakeCertificate:
    """One certificate of a certificate pack."""

    hosts: tuple[str, ...]
    expires_on: datetime
    status: str = "active"
    issuer: str = "GoogleTrustServices"


@dataclass(frozen=True, slots=True)
class FakeCertificatePack:
    """An edge certificate pack (``type`` universal, advanced, sni_custom ...)."""

    hosts: tuple[str, ...]
    certificates: tuple[FakeCertificate, ...]
    type: str = "universal"
    status: str = "active"


def universal_pack(zone: str, expires_in_days: float = 80.0, status: str = "active") -> FakeCertificatePack:
    """The Universal SSL pack of ``zone`` (apex and wildcard), expiring in ``expires_in_days``."""
    hosts = (zone, f"*.{zone}")
    expires = datetime.now(UTC) + timedelta(days=expires_in_days)
    return FakeCertificatePack(hosts, (FakeCertificate(hosts, expires, status),), "universal", status)


@dataclass(frozen=True, slots=True)
class FakeRecord:
    """One DNS record of a fake zone (``proxied`` only means something for A, AAAA, CNAME)."""

    type: str
    name: str
    content: str
    proxied: bool = False
    ttl: int = 1
    priority: int | None = None  # MX and SRV records only (default 10 for MX)


@dataclass(slots=True)
class FakeZone:
    """A zone as the fake API serves it; change the fields freely between requests.

    Attributes:
        settings: setting id -> value; a setting missing here answers HTTP 404.
        rulesets: phase -> rules (dicts with action, expression, enabled ...); a phase
            without rules answers HTTP 404, as Cloudflare does for an absent entrypoint.
        dnssec: the DNSSEC status (active, pending, disabled, pending-disabled, error).
        universal_ssl: whether Universal SSL is enabled.
        certificate_packs: its edge certificate packs (None: one universal pack).
        origin_pulls: whether zone-level Authenticated Origin Pulls is enabled.
        hostname_settings: per-hostname TLS overrides, setting id (``min_tls_version``,
            ``ciphers``, ``http2``) -> hostname -> value.
    """

    name: str
    id: str
    status: str = "active"
    paused: bool = False
    plan: str = "Free Website"
    settings: dict[str, Any] = field(default_factory=secure_zone_settings)
    records: list[FakeRecord] = field(default_factory=list)
    dnssec: str = "active"
    rulesets: dict[str, list[dict[str, Any]]] = field(default_factory=_default_rulesets)
    universal_ssl: bool = True
    certificate_packs: list[FakeCertificatePack] = field(default_factory=list)
    origin_pulls: bool = True
    hostname_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_api(self) -> dict[str, Any]:
        """The zone object of ``GET /zones`` (every field the SDK's ``Zone`` requires)."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "paused": self.paused,
            "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": None,
            "original_registrar": None,
            "original_dnshost": None,
            "vanity_name_servers": [],
            "meta": {
                "step": 2,
                "custom_certificate_quota": 0,
                "page_rule_quota": 3,
                "phishing_detected": False,
                "cdn_only": False,
                "dns_only": False,
                "foundation_dns": False,
            },
            "owner": {"id": None, "name": None, "type": "user"},
            "plan": {
                "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
                "name": self.plan,
                "price": 0,
                "currency": "USD",
                "frequency": "",
                "is_subscribed": False,
                "can_subscribe": False,
                "legacy_id": "free",
                "legacy_discount": False,
                "externally_managed": False,
            },
            "account": {"id": "023e105f4ecef8ad9ca31a8372d0c353", "name": "Fake Account"},
            "tenant": {"id": None, "name": None},
            "tenant_unit": {"id": None},
            "created_on": _STAMP,
            "modified_on": _STAMP,
            "activated_on": _STAMP,
        }


@dataclass(frozen=True, slots=True)
class CloudflareRequest:
    """One request the fake API received (never the token, only whether it matched)."""

    method: str
    path: str
    query: Mapping[str, str]
    has_authorization: bool
    token_valid: bool
    status: int


def _zone_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


_SLOW_DOWN = (971, "Please wait and consider throttling your request speed")


class FakeCloudflare:
    """The fake API server; use ``async with`` or :meth:`start` / :meth:`stop`.

    Args:
        token: the API token it accepts as ``Authorization: Bearer <token>``.
        tls: serve HTTPS with a fresh trustme CA (default); False serves plain HTTP.
        host: the address to listen on (a loopback address).
        permissions: the permission groups the token holds (default: all of
            :data:`PERMISSIONS`); change :attr:`permissions` freely between requests.
        budget: ``(requests, seconds)``, Cloudflare's global limit (1,200 per 300 s; tests
            scale the time down): at most that many accepted requests in any rolling window,
            and a request beyond it blocks all for the next ``seconds`` (see the module's
            docstring). None (the default): no limit.
    """

    def __init__(
        self,
        token: str = "fake-cloudflare-token",  # noqa: S107 - a test server's made-up token
        *,
        tls: bool = True,
        host: str = "127.0.0.1",
        permissions: Iterable[str] = PERMISSIONS,
        budget: tuple[int, float] | None = None,
    ) -> None:
        self._token = token.encode()
        # Cloudflare's per-user budget (1,200 requests per 300 s), when asked for: the times of
        # the requests accepted in the last ``budget[1]`` s, and the end of a block after one
        # request too many (Cloudflare blocks "for the next five minutes")
        self.budget = budget
        self._accepted: deque[float] = deque()
        self._blocked_until = 0.0
        self.permissions = set(permissions)
        self.tls = tls
        self.host = host
        self.zones: list[FakeZone] = []
        self.requests: list[CloudflareRequest] = []
        self._limit_left = 0
        self._retry_after: str | None = "1"
        self._failures: dict[str, tuple[int, int, str]] = {}
        self._runner: web.AppRunner | None = None
        self._tmpdir: str | None = None
        self._port = 0

    # -- building the account ------------------------------------------------------------------
    def add_zone(
        self,
        name: str,
        *,
        settings: Mapping[str, Any] | None = None,
        records: Iterable[FakeRecord] = (),
        dnssec: str = "active",
        rulesets: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        paused: bool = False,
        status: str = "active",
        plan: str = "Free Website",
        drop_settings: Iterable[str] = (),
        universal_ssl: bool = True,
        certificate_packs: Iterable[FakeCertificatePack] | None = None,
        origin_pulls: bool = True,
        hostname_settings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> FakeZone:
        """Add a zone: secure defaults, with ``settings`` overriding some of them.

        Args:
            settings: setting id -> value, merged over :func:`secure_zone_settings`.
            records: its DNS records.
            dnssec: its DNSSEC status.
            rulesets: phase -> rules; None gives one enabled custom firewall rule and the
                Cloudflare Managed and OWASP Core rulesets deployed.
            drop_settings: setting ids the zone does not have (they answer 404).
            universal_ssl: whether Universal SSL is enabled.
            certificate_packs: its edge certificates; None gives one universal pack expiring
                in 80 days.
            origin_pulls: whether zone-level Authenticated Origin Pulls is enabled.
            hostname_settings: per-hostname TLS overrides, setting id -> hostname -> value.
        """
        values = secure_zone_settings()
        values.update(settings or {})
        for sid in drop_settings:
            values.pop(sid, None)
        zone = FakeZone(
            name=name,
            id=_zone_id(name),
            status=status,
            paused=paused,
            plan=plan,
            settings=values,
            records=list(records),
            dnssec=dnssec,
            rulesets=(
                {k: [dict(r) for r in v] for k, v in rulesets.items()}
                if rulesets is not None
                else _default_rulesets()
            ),
            universal_ssl=universal_ssl,
            certificate_packs=(
                [universal_pack(name)] if certificate_packs is None else list(certificate_packs)
            ),
            origin_pulls=origin_pulls,
            hostname_settings={k: dict(v) for k, v in (hostname_settings or {}).items()},
        )
        self.zones.append(zone)
        return zone

    def zone(self, name: str) -> FakeZone:
        """The zone with this name (KeyError if none)."""
        for z in self.zones:
            if z.name == name:
                return z
        raise KeyError(name)

    def rate_limit(self, requests: int, retry_after: int | str | None = 1) -> None:
        """Answer the next ``requests`` requests with HTTP 429 and this Retry-After (None: omit)."""
        self._limit_left = requests
        self._retry_after = None if retry_after is None else str(retry_after)

    def fail(
        self,
        path: str,
        status: int = 403,
        code: int = MISSING_PERMISSION[0],
        message: str = MISSING_PERMISSION[1],
    ) -> None:
        """Answer GETs of ``path`` (relative to the base, e.g. ``/zones/<id>/dnssec``) with an error."""
        self._failures[path] = (status, code, message)

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The API base, e.g. ``https://127.0.0.1:50123/client/v4`` (after start)."""
        if self._runner is None:
            raise RuntimeError("FakeCloudflare is not started")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self._port}{PREFIX}"

    @property
    def ca_bundle(self) -> str | None:
        """Path of the PEM file of the CA that signed the server's certificate (None without TLS)."""
        return None if self._tmpdir is None else str(Path(self._tmpdir) / "ca.pem")

    async def start(self) -> FakeCloudflare:
        """Listen on an ephemeral port of ``host``."""
        import ssl

        from aiohttp import web

        ctx: ssl.SSLContext | None = None
        if self.tls:
            import trustme

            ca = trustme.CA()
            leaf = ca.issue_cert("127.0.0.1", "localhost", "::1")
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            leaf.configure_cert(ctx)
            self._tmpdir = tempfile.mkdtemp(prefix="intgkit-cf-")
            ca.cert_pem.write_to_path(str(Path(self._tmpdir) / "ca.pem"))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._serve)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0, ssl_context=ctx)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Close the server and delete the CA file."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def __aenter__(self) -> FakeCloudflare:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _over_budget(self) -> str | None:
        """None when the budget has a request left (taking it), else the Retry-After to send."""
        if self.budget is None:
            return None
        size, per = self.budget
        now = time.monotonic()
        if now < self._blocked_until:
            return str(max(1, math.ceil(self._blocked_until - now)))
        accepted = self._accepted
        while accepted and accepted[0] <= now - per:  # out of the rolling window
            accepted.popleft()
        if len(accepted) < size:
            accepted.append(now)
            return None
        self._blocked_until = now + per
        return str(max(1, math.ceil(per)))

    # -- serving ---------------------------------------------------------------------------------
    async def _serve(self, request: web.Request) -> web.StreamResponse:
        """Record, rate-limit and authenticate every request, then route it."""
        header = request.headers.get("Authorization")
        valid = header is not None and hmac.compare_digest(header.encode(), b"Bearer " + self._token)
        over_budget = self._over_budget() if valid else None
        if over_budget is not None:
            response: web.StreamResponse = _envelope_error(
                429,
                971,
                "Please wait and consider throttling your request speed",
                {"Retry-After": over_budget},
            )
        elif self._limit_left > 0:
            self._limit_left -= 1
            headers = {"Retry-After": self._retry_after} if self._retry_after is not None else {}
            response = _envelope_error(
                429, 971, "Please wait and consider throttling your request speed", headers
            )
        elif header is None:
            response = _envelope_error(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
        elif not valid:
            response = _envelope_error(403, *INVALID_TOKEN)
        else:
            response = self._route(request)
        self.requests.append(
            CloudflareRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                has_authorization=header is not None,
                token_valid=valid,
                status=response.status,
            )
        )
        return response

    def _route(self, request: web.Request) -> web.StreamResponse:
        if not request.path.startswith(PREFIX + "/"):
            return _envelope_error(404, 7000, "No route for that URI")
        path = "/" + request.path[len(PREFIX) :].strip("/")
        if request.method != "GET":
            return _envelope_error(405, 10405, "Method not allowed (the fake API is read-only)")
        if path in self._failures:
            return _envelope_error(*self._failures[path])
        parts = path.strip("/").split("/")
        q = request.query
        needed = _permission(parts)
        if needed is not None and needed not in self.permissions:
            return _envelope_error(403, *MISSING_PERMISSION)
        if parts == ["user", "tokens", "verify"]:
            # the success message carries code 10000 too (putyourlightson/craft-cloudflare#88):
            # codes in ``messages`` are never errors
            return _ok(
                {"id": "ed17574386854bf78a67040be0a770b0", "status": "active"},
                messages=[{"code": 10000, "message": "This API Token is valid and active", "type": None}],
            )
        if parts == ["zones"]:
            zones = [
                z
                for z in self.zones
                if ("name" not in q or z.name.lower() == q["name"].lower())
                and ("status" not in q or z.status == q["status"])
            ]
            return _page([z.as_api() for z in zones], q, default=20, maximum=50)
        if len(parts) >= 2 and parts[0] == "zones":
            zone = next((z for z in self.zones if z.id == parts[1]), None)
            if zone is None:
                return _envelope_error(
                    404,
                    7003,
                    f"Could not route to /zones/{parts[1][:64]}, perhaps your object identifier is invalid?",
                )
            return self._zone_route(zone, parts[2:], q)
        return _envelope_error(404, 7000, "No route for that URI")

    def _zone_route(self, zone: FakeZone, rest: list[str], q: Mapping[str, str]) -> web.StreamResponse:
        if not rest:
            return _ok(zone.as_api())
        if len(rest) == 2 and rest[0] == "settings":
            if rest[1] not in zone.settings:
                return _envelope_error(404, 1003, f"Invalid or unknown setting {rest[1][:64]!r}")
            return _ok(
                {"id": rest[1], "value": zone.settings[rest[1]], "editable": True, "modified_on": _STAMP}
            )
        if rest == ["dns_records"]:
            rows: list[dict[str, Any]] = [
                _record(zone.id, i, r)
                for i, r in enumerate(zone.records)
                if "type" not in q or r.type == q["type"]
            ]
            return _page(rows, q, default=100, maximum=5000)
        if rest == ["dnssec"]:
            return _ok(
                {
                    "status": zone.dnssec,
                    "flags": 257,
                    "algorithm": "13",
                    "key_type": "ECDSAP256SHA256",
                    "digest_type": "2",
                    "digest_algorithm": "SHA256",
                    "modified_on": _STAMP,
                }
            )
        if len(rest) == 4 and rest[0] == "rulesets" and rest[1] == "phases" and rest[3] == "entrypoint":
            phase = rest[2]
            rules = zone.rulesets.get(phase) or []
            if not rules:
                return _envelope_error(
                    404, 10003, f"could not find entrypoint ruleset in the {phase[:64]} phase"
                )
            full = []
            for i, r in enumerate(rules):
                rid = hashlib.sha256(f"{zone.id}{phase}{i}".encode()).hexdigest()[:32]
                # the API always returns ref (the id unless the rule was given its own)
                full.append(
                    {"id": rid, "ref": rid, "version": "1", "last_updated": _STAMP, "enabled": True, **r}
                )
            return _ok(
                {
                    "id": _zone_id(zone.id + phase),
                    "name": "default",
                    "description": "",
                    "kind": "zone",
                    "phase": phase,
                    "version": "1",
                    "last_updated": _STAMP,
                    "rules": full,
                }
            )
        if rest == ["ssl", "universal", "settings"]:
            return _ok({"enabled": zone.universal_ssl})
        if rest == ["ssl", "certificate_packs"]:
            packs = [
                _pack(zone.id, i, p)
                for i, p in enumerate(zone.certificate_packs)
                if q.get("status") == "all" or p.status == "active"
            ]
            return _page(packs, q, default=20, maximum=50)
        if rest == ["origin_tls_client_auth", "settings"]:
            return _ok({"enabled": zone.origin_pulls})
        if len(rest) == 3 and rest[:2] == ["hostnames", "settings"]:
            if rest[2] not in ("ciphers", "min_tls_version", "http2"):
                return _envelope_error(400, 1001, f"Invalid setting id {rest[2][:64]!r}")
            overrides = zone.hostname_settings.get(rest[2], {})
            return _ok(
                [
                    {
                        "hostname": host,
                        "value": value,
                        "status": "active",
                        "created_at": _STAMP,
                        "updated_at": _STAMP,
                    }
                    for host, value in overrides.items()
                ]
            )
        return _envelope_error(404, 7000, "No route for that URI")


def _permission(parts: Sequence[str]) -> str | None:
    """The permission group an endpoint needs (None: any valid token will do)."""
    if parts[:1] != ["zones"]:
        return None
    rest = parts[2:]
    if not rest:
        return "Zone Read"
    return {
        "settings": "Zone Settings Read",
        "dns_records": "DNS Read",
        "dnssec": "DNS Read",
        "rulesets": "Zone WAF Read",
        "ssl": "SSL and Certificates Read",
        "origin_tls_client_auth": "SSL and Certificates Read",
        "hostnames": "SSL and Certificates Read",
    }.get(rest[0])


def _record(zone_id: str, i: int, r: FakeRecord) -> dict[str, Any]:
    """A DNS record as the API returns it (no zone_id / zone_name: those are gone from v4 records)."""
    row: dict[str, Any] = {
        "id": hashlib.sha256(f"{zone_id}{i}".encode()).hexdigest()[:32],
        "name": r.name,
        "type": r.type,
        "content": r.content,
        "proxiable": r.type in ("A", "AAAA", "CNAME"),
        "proxied": r.proxied,
        "ttl": r.ttl,
        "settings": {},
        "meta": {},
        "comment": None,
        "tags": [],
        "created_on": _STAMP,
        "modified_on": _STAMP,
    }
    if r.type in ("MX", "SRV") or r.priority is not None:
        row["priority"] = 10 if r.priority is None else r.priority
    return row


def _pack(zone_id: str, i: int, p: FakeCertificatePack) -> dict[str, Any]:
    """A certificate pack as ``GET /zones/{id}/ssl/certificate_packs`` returns it."""
    pid = hashlib.sha256(f"{zone_id}pack{i}".encode()).hexdigest()[:32]
    certs = [
        {
            "id": hashlib.sha256(f"{pid}{j}".encode()).hexdigest()[:32],
            "hosts": list(c.hosts),
            "status": c.status,
            "issuer": c.issuer,
            "signature": "ECDSAWithSHA256",
            "bundle_method": "ubiquitous",
            "expires_on": c.expires_on.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "uploaded_on": _STAMP,
            "modified_on": _STAMP,
            "priority": 0,
            "zone_id": zone_id,
        }
        for j, c in enumerate(p.certificates)
    ]
    return {
        "id": pid,
        "type": p.type,
        "hosts": list(p.hosts),
        "status": p.status,
        "certificates": certs,
        "primary_certificate": certs[0]["id"] if certs else None,
        "certificate_authority": "google",
        "validation_method": "txt",
        "validity_days": 90,
        "cloudflare_branding": False,
    }


def _ok(
    result: Any,
    result_info: Mapping[str, Any] | None = None,
    messages: Sequence[Mapping[str, Any]] = (),
) -> web.Response:
    from aiohttp import web

    body: dict[str, Any] = {
        "success": True,
        "errors": [],
        "messages": [dict(m) for m in messages],
        "result": result,
    }
    if result_info is not None:
        body["result_info"] = dict(result_info)
    return web.json_response(body)


def _envelope_error(
    status: int, code: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    from aiohttp import web

    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
    return web.json_response(body, status=status, headers=dict(headers or {}))


def _page(rows: Sequence[Any], q: Mapping[str, str], *, default: int, maximum: int) -> web.Response:
    """One page of rows with Cloudflare's result_info; per_page is clamped as the API does."""
    try:
        page = max(1, int(q.get("page", "1")))
        per_page = min(maximum, max(5, int(q.get("per_page", str(default)))))
    except ValueError:
        return _envelope_error(400, 1001, "page and per_page must be integers")
    chunk = list(rows[(page - 1) * per_page : page * per_page])
    info = {
        "page": page,
        "per_page": per_page,
        "count": len(chunk),
        "total_count": len(rows),
        "total_pages": math.ceil(len(rows) / per_page),
    }
    return _ok(chunk, info)
