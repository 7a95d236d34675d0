"""Cloudflare zones: how each zone's edge is configured, read from the Cloudflare API v4.

Rules: intgkit's security-check notes §4, drawn from developers.cloudflare.com and the API types
of cloudflare/cloudflare-python (``src/cloudflare/types/zones/settings/*.py``, e.g.
``security_headers.py`` @dd427c9; pagination as ``src/cloudflare/pagination.py``). Per zone:

=========================  ==================================================================
ssl                        off critical; flexible high; full medium; strict pass
min_tls_version            1.0 / 1.1 medium; 1.2+ pass
always_use_https           off medium
security_header (HSTS)     disabled medium; max_age < 15 552 000 low (when enabled);
                           nosniff false low
security_level             off / essentially_off medium; under_attack info
tls_1_3, automatic_https_  off low
rewrites, browser_check
zone paused                high
DNSSEC status not active   low
WAF                        no enabled rule in the custom or managed firewall phase: info
DNS A/AAAA/CNAME unproxied info (origin exposed); medium when the same origin also serves
                           proxied names (the proxy is bypassable)
=========================  ==================================================================

Settings are read one by one (``/zones/{id}/settings/{setting}``), never through the
deprecated bulk endpoint. A check whose data cannot be read (e.g. the token lacks a
permission, or the plan lacks the feature) becomes an ``info`` finding ``<check>-unknown``
saying why, and the other checks still report; an authentication error, a rate limit that
does not fit the time budget or an unreachable API fails the whole call.

Target: a zone name (``example.com``; a URL is reduced to its host), or None for every zone
the token can see. Findings carry the zone in ``target`` and in ``zone``.

The token goes only to the configured API base, only over https (plain http only to loopback
test servers), never through a redirect, and never into rows, errors or logs.

Rate limits: HTTP 429 is retried after its Retry-After (seconds) when that wait is at most
``max_retry_wait`` and fits before the call's deadline, ``timeout`` seconds after fetch began
(the runner applies the same ``timeout`` unless a run overrides it; the integration cannot
see such an override); otherwise the call fails with "rate limited".
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from .._log import logger
from .._settings import Setting
from ._findings import MAX_CELL, Findings, clip
from ._net import CA_BUNDLE, client_session, is_loopback, parse_target

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Cloudflare", "CloudflareAPIError", "CloudflareRateLimited", "ZoneNotFoundError", "integration"]

NAME = "cloudflare"
DEFAULT_API_BASE = "https://api.cloudflare.com/client/v4"

API_TOKEN = Setting(
    "CLOUDFLARE_API_TOKEN",
    required=True,
    secret=True,
    description="API token with Zone Read, Zone Settings Read, DNS Read (and Firewall/WAF Read)",
)
API_BASE = Setting(
    "CLOUDFLARE_API_BASE",
    required=False,
    secret=False,
    default=DEFAULT_API_BASE,
    description="API base URL (https; http only for loopback test servers)",
)

SETTING_IDS = (
    "ssl",
    "min_tls_version",
    "always_use_https",
    "security_header",
    "security_level",
    "tls_1_3",
    "automatic_https_rewrites",
    "browser_check",
)
WAF_PHASES = ("http_request_firewall_custom", "http_request_firewall_managed", "http_ratelimit")
HSTS_MIN_MAX_AGE = 15_552_000  # six months, as the Observatory's HSTS test
ZONES_PER_PAGE = 50  # the API's maximum for /zones
RECORDS_PER_PAGE = 100  # the API's default for /dns_records
MAX_PAGES = 1000  # a server that never stops paginating is a broken server
MAX_BODY = 16 * 1024 * 1024
MAX_ATTEMPTS = 6  # per request, 429s included
RETRY_MARGIN = 0.5  # seconds the retried request itself needs before the deadline

_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
_AUTH_CODES = frozenset({9103, 9106, 10000})  # unknown key, missing credentials, authentication error
_ORIGIN_TYPES = ("A", "AAAA", "CNAME")

T = TypeVar("T")


class CloudflareAPIError(RuntimeError):
    """The API refused a request or answered something unusable.

    Attributes:
        endpoint: ``"GET /zones"`` and the like (the path below the API base).
        status: the HTTP status (None when no answer came).
        codes: Cloudflare's error codes from the envelope.
    """

    def __init__(self, endpoint: str, status: int | None, message: str, codes: tuple[int, ...] = ()) -> None:
        self.endpoint = endpoint
        self.status = status
        self.codes = codes
        super().__init__(message)

    @property
    def is_auth(self) -> bool:
        """Whether the token itself was refused (then nothing else can work either)."""
        return self.status == 401 or not _AUTH_CODES.isdisjoint(self.codes)


class CloudflareRateLimited(CloudflareAPIError):
    """HTTP 429 whose Retry-After did not fit the time budget."""


class ZoneNotFoundError(LookupError):
    """The target zone is not visible to the token."""


@dataclass(frozen=True, slots=True)
class _Unavailable:
    """Why a piece of zone data could not be read."""

    reason: str


@dataclass(slots=True)
class _ZoneData:
    zone: dict[str, Any]
    settings: dict[str, dict[str, Any] | _Unavailable] = field(default_factory=dict)
    records: list[dict[str, Any]] | _Unavailable = field(default_factory=list)
    dnssec: dict[str, Any] | _Unavailable = field(default_factory=dict)
    rules: dict[str, list[dict[str, Any]] | _Unavailable] = field(default_factory=dict)


class Cloudflare:
    """Audit Cloudflare zone settings, DNSSEC, WAF rules and DNS origin exposure.

    Args:
        token: the API token (default: ``CLOUDFLARE_API_TOKEN``); never shown by repr, and
            dropped when the object is pickled or copied (the copy reads the environment).
        api_base: the API base URL (default: ``CLOUDFLARE_API_BASE``, then Cloudflare's).
        ca_bundle: PEM trust roots (default: ``INTGKIT_CA_BUNDLE``, then the system's).
        timeout: the time budget of one fetch in seconds (rate-limit waits must fit in it);
            the runner applies it too, unless a run passes its own ``timeout=``.
        max_retry_wait: the longest Retry-After (seconds) worth waiting for.
        concurrency: requests in flight at once.
        zones_per_page: page size for listing zones (the API allows 5..50).
    """

    name = NAME
    title = "Cloudflare zones"
    description = (
        "Zone settings (SSL mode, minimum TLS, HTTPS redirects, HSTS, security level), DNSSEC, "
        "WAF rules and unproxied origin records, through the Cloudflare API v4."
    )
    settings = (API_TOKEN, API_BASE, CA_BUNDLE)
    breaker_per_target = False  # one API: when it is down, it is down for every zone
    timeout: float | None = 60.0
    max_retry_wait = 30.0

    def __init__(
        self,
        *,
        token: str | None = None,
        api_base: str | None = None,
        ca_bundle: str | None = None,
        timeout: float | None = 60.0,
        max_retry_wait: float = 30.0,
        concurrency: int = 8,
        zones_per_page: int = ZONES_PER_PAGE,
    ) -> None:
        self._token = token
        self._api_base = api_base
        self._ca_bundle = ca_bundle
        self.timeout = timeout
        self.max_retry_wait = max_retry_wait
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        self.concurrency = concurrency
        if not 5 <= zones_per_page <= ZONES_PER_PAGE:
            raise ValueError(f"zones_per_page must be 5..{ZONES_PER_PAGE}, got {zones_per_page!r}")
        self.zones_per_page = zones_per_page

    def __repr__(self) -> str:
        token = "***" if self._token else "from CLOUDFLARE_API_TOKEN"
        return f"Cloudflare(token={token}, api_base={self._api_base!r}, timeout={self.timeout!r})"

    def __getstate__(self) -> dict[str, Any]:  # never pickle the token along
        state = dict(self.__dict__)
        state["_token"] = None
        return state

    def is_configured(self) -> bool:
        """True when a token is given or ``CLOUDFLARE_API_TOKEN`` is set."""
        return bool(self._token or API_TOKEN.value())

    async def fetch(self, target: str | None) -> dict[str, list[dict[str, Any]]]:
        """Audit one zone (by name) or, for target None, every zone the token can see."""
        import aiohttp

        token = self._token or API_TOKEN.value()
        if not token:
            raise ValueError("CLOUDFLARE_API_TOKEN is not set")
        base = api_base_url(self._api_base or API_BASE.value() or DEFAULT_API_BASE)
        zone_name = zone_from_target(target)
        loop = asyncio.get_running_loop()
        deadline = None if self.timeout is None else loop.time() + self.timeout
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=30)
        async with client_session(cafile=self._ca_bundle or CA_BUNDLE.value(), timeout=timeout) as session:
            api = _Api(
                session,
                base,
                token,
                deadline=deadline,
                budget=self.timeout,
                max_retry_wait=self.max_retry_wait,
                concurrency=self.concurrency,
            )
            params = {"name": zone_name} if zone_name else {}
            zones = await api.paginate("/zones", params, self.zones_per_page)
            if zone_name is not None:
                zones = [z for z in zones if str(z.get("name", "")).lower() == zone_name]
                if not zones:
                    raise ZoneNotFoundError(
                        f"no zone named {zone_name!r} is visible to this token (GET /zones?name= "
                        f"found none); give the zone apex (e.g. example.com) and check the token's "
                        f"Zone Read permission"
                    )
            data = await _all([_read_zone(api, z) for z in zones])
        return report(data)


# -- inputs ------------------------------------------------------------------------------------


def api_base_url(url: str) -> str:
    """The API base without a trailing slash; refuses bases the token must not go to."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(
            f"CLOUDFLARE_API_BASE must be an https:// URL such as {DEFAULT_API_BASE}, got {url[:200]!r}"
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise ValueError(
            f"refusing to send the Cloudflare API token over plain http to {host!r}: "
            f"CLOUDFLARE_API_BASE must use https:// (http:// is allowed only for loopback hosts "
            f"such as 127.0.0.1 or localhost, for tests)"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("CLOUDFLARE_API_BASE must not contain credentials, a query or a fragment")
    return url.strip().rstrip("/")


def zone_from_target(target: str | None) -> str | None:
    """A zone name from a target (a name or a URL); None stays None (all zones)."""
    if target is None:
        return None
    parsed = parse_target(target)
    try:
        ipaddress.ip_address(parsed.host)
    except ValueError:
        return parsed.host
    raise ValueError(f"target {target!r}: the cloudflare integration takes a zone name, not an IP address")


# -- the API client ----------------------------------------------------------------------------


class _Api:
    """GETs with the envelope checked, bounded concurrency and Retry-After within a deadline."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        token: str,
        *,
        deadline: float | None,
        budget: float | None,
        max_retry_wait: float,
        concurrency: int,
    ) -> None:
        self._session = session
        self._base = base
        self._token = token
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._deadline = deadline
        self._budget = budget
        self._max_retry_wait = max_retry_wait
        self._sem = asyncio.Semaphore(concurrency)
        self._not_before = 0.0  # a 429 pauses every request of this fetch, not just its own

    async def get(self, path: str, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        """The envelope of a successful GET of ``path`` (below the base)."""
        import aiohttp

        endpoint = f"GET {path}"
        loop = asyncio.get_running_loop()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            pause = self._not_before - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            try:
                async with (
                    self._sem,
                    self._session.get(
                        self._base + path,
                        params=dict(params or {}),
                        headers=self._headers,
                        allow_redirects=False,
                    ) as resp,
                ):
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
                    body = await _read_limited(resp, endpoint)
            except aiohttp.ClientError as exc:
                raise CloudflareAPIError(
                    endpoint,
                    None,
                    f"{endpoint}: could not reach the Cloudflare API at "
                    f"{_origin(self._base)}: {self._scrub(str(exc) or type(exc).__name__)}",
                ) from None
            if status == 429:
                delay = _seconds(retry_after)
                wait = 1.0 if delay is None else delay  # Cloudflare sends it; if not, a polite second
                now = loop.time()
                why = self._no_retry_reason(wait, now, attempt)
                if why:
                    raise CloudflareRateLimited(
                        endpoint,
                        429,
                        f"rate limited by the Cloudflare API on {endpoint} (HTTP 429, "
                        f"Retry-After {retry_after!r}): {why}",
                        (971,),
                    )
                logger().info(
                    "cloudflare_rate_limited",
                    integration=NAME,
                    endpoint=endpoint,
                    retry_after_s=wait,
                    attempt=attempt,
                )
                self._not_before = max(self._not_before, now + wait)
                continue
            if 300 <= status < 400:
                raise CloudflareAPIError(
                    endpoint,
                    status,
                    f"{endpoint}: HTTP {status} redirect; not followed, so the token stays with the API base",
                )
            envelope = self._envelope(body, endpoint, status)
            if status != 200 or envelope.get("success") is not True:
                codes, text = _errors(envelope.get("errors"))
                raise CloudflareAPIError(
                    endpoint,
                    status,
                    f"{endpoint}: HTTP {status}, Cloudflare errors: {self._scrub(text) or 'none given'}",
                    codes,
                )
            return envelope
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _no_retry_reason(self, wait: float, now: float, attempt: int) -> str:
        if attempt >= MAX_ATTEMPTS:
            return f"still limited after {MAX_ATTEMPTS} attempts"
        if wait > self._max_retry_wait:
            return f"the wait exceeds max_retry_wait={self._max_retry_wait:g} s"
        if self._deadline is not None and now + wait + RETRY_MARGIN > self._deadline:
            return (
                f"waiting {wait:g} s does not fit in the {self._deadline - now:.1f} s left of the "
                f"call's time budget (timeout={self._budget:g} s)"
            )
        return ""

    async def paginate(
        self, path: str, params: Mapping[str, str | int], per_page: int
    ) -> list[dict[str, Any]]:
        """Every row of a page-numbered list: stop at total_pages or at an empty (or short) page."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            env = await self.get(path, {**params, "page": page, "per_page": per_page})
            result = env.get("result")
            if not isinstance(result, list):
                raise CloudflareAPIError(f"GET {path}", 200, f"GET {path}: result is not a list")
            out.extend(r for r in result if isinstance(r, dict))
            info = env.get("result_info")
            total = info.get("total_pages") if isinstance(info, dict) else None
            if not result or page >= MAX_PAGES:
                break
            if isinstance(total, int) and not isinstance(total, bool):
                if page >= total:
                    break
            elif len(result) < per_page:
                break
            page += 1
        return out

    def _envelope(self, body: bytes, endpoint: str, status: int) -> dict[str, Any]:
        try:
            value = json.loads(body)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise CloudflareAPIError(
                endpoint, status, f"{endpoint}: HTTP {status}, the answer is not a JSON envelope"
            )
        return value

    def _scrub(self, text: str) -> str:
        """Server-supplied text is untrusted: keep the token out even if it was echoed."""
        return text.replace(self._token, "***") if self._token else text


async def _read_limited(resp: aiohttp.ClientResponse, endpoint: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY:
            raise CloudflareAPIError(
                endpoint, resp.status, f"{endpoint}: answer larger than {MAX_BODY} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _seconds(value: str | None) -> float | None:
    """Retry-After in seconds (Cloudflare sends seconds; an HTTP date is not honoured)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds < 1e7 else None


def _errors(errors: Any) -> tuple[tuple[int, ...], str]:
    codes: list[int] = []
    parts: list[str] = []
    for e in errors if isinstance(errors, list) else []:
        if not isinstance(e, dict):
            continue
        code = e.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            codes.append(code)
        parts.append(f"[{code}] {_cell(str(e.get('message', '')), 200)}")
    return tuple(codes), "; ".join(parts[:5])


def _origin(base: str) -> str:
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"


# -- reading one zone --------------------------------------------------------------------------


async def _all(aws: list[Awaitable[Any]]) -> list[Any]:
    """Await all concurrently; on the first failure cancel the rest and raise that failure itself.

    A TaskGroup would raise an ExceptionGroup, whose message says nothing useful in a result.
    """
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(_await(aw)) for aw in aws]
    except BaseExceptionGroup as group:
        raise _first(group) from None
    return [t.result() for t in tasks]


async def _await(aw: Awaitable[T]) -> T:
    return await aw


def _first(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def _optional(aw: Awaitable[T]) -> T | _Unavailable:
    """A zone detail, or why it could not be read; token and rate-limit failures propagate."""
    try:
        return await aw
    except CloudflareRateLimited:
        raise
    except CloudflareAPIError as exc:
        if exc.is_auth or exc.status is None:
            raise
        return _Unavailable(str(exc))


async def _entrypoint(api: _Api, zone_id: str, phase: str) -> list[dict[str, Any]]:
    """The rules of a phase entrypoint; 404 means the phase has none."""
    try:
        env = await api.get(f"/zones/{zone_id}/rulesets/phases/{phase}/entrypoint")
    except CloudflareAPIError as exc:
        if exc.status == 404:
            return []
        raise
    result = env.get("result")
    rules = result.get("rules") if isinstance(result, dict) else None
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


async def _result(api: _Api, path: str) -> dict[str, Any]:
    env = await api.get(path)
    result = env.get("result")
    if not isinstance(result, dict):
        raise CloudflareAPIError(f"GET {path}", 200, f"GET {path}: result is not an object")
    return result


async def _read_zone(api: _Api, zone: dict[str, Any]) -> _ZoneData:
    zid = zone.get("id")
    if not isinstance(zid, str) or not _ID.match(zid):
        raise CloudflareAPIError("GET /zones", 200, "GET /zones: a zone id is not an identifier")
    base = f"/zones/{zid}"
    settings = _all([_optional(_result(api, f"{base}/settings/{s}")) for s in SETTING_IDS])
    records = _optional(api.paginate(f"{base}/dns_records", {}, RECORDS_PER_PAGE))
    dnssec = _optional(_result(api, f"{base}/dnssec"))
    rules = _all([_optional(_entrypoint(api, zid, p)) for p in WAF_PHASES])
    s, r, d, w = await _all([settings, records, dnssec, rules])
    return _ZoneData(
        zone=zone,
        settings=dict(zip(SETTING_IDS, s, strict=True)),
        records=r,
        dnssec=d,
        rules=dict(zip(WAF_PHASES, w, strict=True)),
    )


# -- rules -------------------------------------------------------------------------------------


def _cell(value: Any, limit: int = MAX_CELL) -> Any:
    """Outside text, cut to ``limit`` characters; other values as they are."""
    return clip(value, limit) if isinstance(value, str) else value


def _json(value: Any) -> str:
    return str(_cell(json.dumps(value, sort_keys=True, default=str)))


class _Findings(Findings):
    """Collects the findings of one zone (the zone is also a column of its own)."""

    def __init__(self, zone: str) -> None:
        super().__init__(NAME, zone, zone=zone)

    def unknown(self, check: str, why: _Unavailable) -> None:
        self.add(
            check,
            f"{check.replace('_', '-')}-unknown",
            False,
            "info",
            detail=f"could not be evaluated: {_cell(why.reason, 500)}",
        )


def _on_off(
    f: _Findings, sid: str, value: Any, severity: str, why: str, on: tuple[str, ...] = ("on",)
) -> None:
    slug = sid.replace("_", "-")
    if value in on:
        f.add(sid, f"{slug}-on", True, "info", value, "on")
    elif value == "off":
        f.add(sid, f"{slug}-off", False, severity, value, "on", why)
    else:
        f.add(sid, f"{slug}-unrecognized", False, "info", value, "on", "value not recognised")


_SSL = {
    "off": ("ssl-off", False, "critical", "no HTTPS between visitors and Cloudflare"),
    "flexible": ("ssl-flexible", False, "high", "Cloudflare talks plain HTTP to the origin"),
    "full": ("ssl-full", False, "medium", "HTTPS to the origin, but its certificate is not verified"),
    "strict": ("ssl-strict", True, "info", "HTTPS to the origin with a verified certificate"),
}


def _evaluate_settings(f: _Findings, values: Mapping[str, Any]) -> None:
    """The setting rules; ``values`` maps setting id -> value, or _Unavailable."""
    v = values["ssl"]
    if isinstance(v, _Unavailable):
        f.unknown("ssl", v)
    elif v in _SSL:
        rid, ok, sev, why = _SSL[v]
        f.add("ssl", rid, ok, sev, v, "strict", why)
    else:
        f.add("ssl", "ssl-unrecognized", False, "info", v, "strict", "SSL mode not recognised")

    v = values["min_tls_version"]
    if isinstance(v, _Unavailable):
        f.unknown("min_tls_version", v)
    elif v in ("1.0", "1.1"):
        f.add(
            "min_tls_version",
            "min-tls-version-below-1.2",
            False,
            "medium",
            v,
            ">= 1.2",
            "TLS 1.0 and 1.1 are deprecated (RFC 8996)",
        )
    elif v in ("1.2", "1.3"):
        f.add("min_tls_version", "min-tls-version-ok", True, "info", v, ">= 1.2")
    else:
        f.add(
            "min_tls_version",
            "min-tls-version-unrecognized",
            False,
            "info",
            v,
            ">= 1.2",
            "value not recognised",
        )

    v = values["always_use_https"]
    if isinstance(v, _Unavailable):
        f.unknown("always_use_https", v)
    else:
        _on_off(f, "always_use_https", v, "medium", "plain HTTP requests are served, not redirected")

    v = values["security_header"]
    if isinstance(v, _Unavailable):
        f.unknown("hsts", v)
        f.unknown("nosniff", v)
    else:
        sts = v.get("strict_transport_security") if isinstance(v, dict) else None
        sts = sts if isinstance(sts, dict) else {}
        max_age = sts.get("max_age")
        if sts.get("enabled") is not True:
            f.add(
                "hsts",
                "hsts-disabled",
                False,
                "medium",
                sts or v,
                "enabled",
                "browsers are not told to insist on HTTPS",
            )
        elif not isinstance(max_age, (int, float)) or isinstance(max_age, bool) or max_age < HSTS_MIN_MAX_AGE:
            f.add(
                "hsts",
                "hsts-max-age-too-short",
                False,
                "low",
                max_age,
                f">= {HSTS_MIN_MAX_AGE}",
                "HSTS max-age shorter than six months",
            )
        else:
            f.add("hsts", "hsts-enabled", True, "info", max_age, f">= {HSTS_MIN_MAX_AGE}")
        if sts.get("nosniff") is True:
            f.add("nosniff", "nosniff-enabled", True, "info", True, True)
        else:
            f.add(
                "nosniff",
                "nosniff-disabled",
                False,
                "low",
                sts.get("nosniff"),
                True,
                "X-Content-Type-Options: nosniff is not added",
            )

    v = values["security_level"]
    if isinstance(v, _Unavailable):
        f.unknown("security_level", v)
    elif v in ("off", "essentially_off"):
        f.add(
            "security_level",
            f"security-level-{v.replace('_', '-')}",
            False,
            "medium",
            v,
            "low or higher",
            "threat-score challenges are off",
        )
    elif v == "under_attack":
        f.add(
            "security_level",
            "security-level-under-attack",
            True,
            "info",
            v,
            None,
            "every visitor is challenged (meant to be temporary)",
        )
    elif v in ("low", "medium", "high"):
        f.add("security_level", "security-level-ok", True, "info", v, "low or higher")
    else:
        f.add(
            "security_level",
            "security-level-unrecognized",
            False,
            "info",
            v,
            "low or higher",
            "value not recognised",
        )

    for sid, on, why in (
        ("tls_1_3", ("on", "zrt"), "TLS 1.3 is not offered"),
        ("automatic_https_rewrites", ("on",), "http:// links in pages are not rewritten"),
        ("browser_check", ("on",), "the browser integrity check is off"),
    ):
        v = values[sid]
        if isinstance(v, _Unavailable):
            f.unknown(sid, v)
        else:
            _on_off(f, sid, v, "low", why, on)


def _ip_or_name(content: str) -> str:
    try:
        return str(ipaddress.ip_address(content))
    except ValueError:
        return content.lower().rstrip(".")


def _evaluate_records(f: _Findings, records: list[dict[str, Any]]) -> None:
    origins = [r for r in records if r.get("type") in _ORIGIN_TYPES and isinstance(r.get("content"), str)]
    proxied = {_ip_or_name(r["content"]) for r in origins if r.get("proxied") is True}
    exposed = [r for r in origins if r.get("proxied") is not True]
    for r in exposed:
        what = f"{r.get('type')} {r.get('name')} -> {r['content']} (proxied=false)"
        if _ip_or_name(r["content"]) in proxied:
            f.add(
                "dns_proxied",
                "dns-unproxied-shared-origin",
                False,
                "medium",
                what,
                "proxied=true",
                "this origin also serves proxied names: its address is public, so Cloudflare can be bypassed",
            )
        else:
            f.add(
                "dns_proxied",
                "dns-unproxied-origin",
                False,
                "info",
                what,
                "proxied=true",
                "origin address exposed in public DNS",
            )
    if not exposed:
        f.add(
            "dns_proxied",
            "dns-origins-proxied",
            True,
            "info",
            f"{len(origins)} A/AAAA/CNAME records",
            "proxied=true",
        )


def _enabled(rules: list[dict[str, Any]]) -> int:
    return sum(1 for r in rules if r.get("enabled", True) is not False)


def _zone_report(
    d: _ZoneData,
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    z = d.zone
    name = str(_cell(str(z.get("name", ""))))
    f = _Findings(name)
    values = {sid: (s if isinstance(s, _Unavailable) else s.get("value")) for sid, s in d.settings.items()}
    _evaluate_settings(f, values)

    paused = z.get("paused") is True
    if paused:
        f.add(
            "zone_paused",
            "zone-paused",
            False,
            "high",
            True,
            False,
            "a paused zone serves DNS only: no proxy, WAF or TLS settings apply",
        )
    else:
        f.add("zone_paused", "zone-not-paused", True, "info", False, False)

    dnssec_status: Any = None
    if isinstance(d.dnssec, _Unavailable):
        f.unknown("dnssec", d.dnssec)
    else:
        dnssec_status = _cell(d.dnssec.get("status"))
        if dnssec_status == "active":
            f.add("dnssec", "dnssec-active", True, "info", dnssec_status, "active")
        else:
            f.add(
                "dnssec",
                "dnssec-not-active",
                False,
                "low",
                dnssec_status,
                "active",
                "answers for this zone are not signed",
            )

    counts: dict[str, int | None] = {}
    for phase, rules in d.rules.items():
        counts[phase] = None if isinstance(rules, _Unavailable) else _enabled(rules)
    waf = [counts["http_request_firewall_custom"], counts["http_request_firewall_managed"]]
    observed = {"custom": waf[0], "managed": waf[1]}
    if any(c for c in waf if c):
        f.add("waf", "waf-rules-present", True, "info", observed, "at least one enabled rule")
    elif unreadable := [r for p in WAF_PHASES[:2] if isinstance(r := d.rules[p], _Unavailable)]:
        f.unknown("waf", unreadable[0])
    else:
        f.add(
            "waf",
            "waf-no-rules",
            False,
            "info",
            observed,
            "at least one enabled rule",
            "no custom or managed firewall rules are deployed",
        )

    records: list[dict[str, Any]] = []
    if isinstance(d.records, _Unavailable):
        f.unknown("dns_proxied", d.records)
    else:
        records = d.records
        _evaluate_records(f, records)

    ns = z.get("name_servers")
    plan = z.get("plan")
    zone_row = {
        "zone": name,
        "id": _cell(z.get("id")),
        "status": _cell(z.get("status")),
        "paused": paused,
        "type": _cell(z.get("type")),
        "plan": _cell(plan.get("name")) if isinstance(plan, dict) else None,
        "name_servers": _cell(", ".join(str(n) for n in ns)) if isinstance(ns, list) else None,
        "dnssec_status": dnssec_status,
        "custom_rules": counts["http_request_firewall_custom"],
        "managed_rules": counts["http_request_firewall_managed"],
        "ratelimit_rules": counts["http_ratelimit"],
        "dns_records": None if isinstance(d.records, _Unavailable) else len(records),
    }
    setting_rows = [
        {
            "zone": name,
            "setting_id": sid,
            "value": _json(s.get("value")),
            "editable": s.get("editable") if isinstance(s.get("editable"), bool) else None,
            "modified_on": _cell(s.get("modified_on")),
        }
        for sid, s in d.settings.items()
        if not isinstance(s, _Unavailable)
    ]
    record_rows = [
        {
            "zone": name,
            "id": _cell(r.get("id")),
            "type": _cell(r.get("type")),
            "name": _cell(r.get("name")),
            "content": _cell(r.get("content")),
            "proxied": r.get("proxied") if isinstance(r.get("proxied"), bool) else None,
            "proxiable": r.get("proxiable") if isinstance(r.get("proxiable"), bool) else None,
            "ttl": r.get("ttl") if isinstance(r.get("ttl"), int) else None,
        }
        for r in records
    ]
    return f.rows, zone_row, setting_rows, record_rows


def report(zones: list[_ZoneData]) -> dict[str, list[dict[str, Any]]]:
    """The sections of one fetch: findings, zones, settings, dns_records."""
    out: dict[str, list[dict[str, Any]]] = {"findings": [], "zones": [], "settings": [], "dns_records": []}
    for d in zones:
        findings, zone_row, settings, records = _zone_report(d)
        out["findings"] += findings
        out["zones"].append(zone_row)
        out["settings"] += settings
        out["dns_records"] += records
    return out


integration = Cloudflare()
