"""The Cloudflare API v4 client: where the token may go, the envelope, pagination, rate limits.

The token goes only to the configured API base, only over https (plain http only to loopback
test servers), never through a redirect, and never into rows, errors or logs.

Every answer is Cloudflare's envelope ``{success, errors, messages, result, result_info?}``;
anything else (or ``success`` not true, or a status other than 200) is a
:class:`CloudflareAPIError` naming the endpoint, the status and Cloudflare's error codes and
messages. Codes in ``messages`` are never read as errors (``/user/tokens/verify`` puts code
10000 there on success).

Rate limits: :func:`retry_rate_limited` is the one retry loop. HTTP 429 is retried after its
Retry-After (seconds) when that wait is at most ``max_retry_wait`` and fits before the call's
deadline; otherwise the call fails with "rate limited". It is a function of its own so that a
run-wide retry policy can replace it without touching the rest of the client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..._log import logger
from .._findings import clip
from .._net import is_loopback
from ._errors import CloudflareAPIError, CloudflareRateLimited

if TYPE_CHECKING:
    import aiohttp

NAME = "cloudflare"
DEFAULT_API_BASE = "https://api.cloudflare.com/client/v4"
MAX_PAGES = 1000  # a server that never stops paginating is a broken server
MAX_BODY = 16 * 1024 * 1024
MAX_ATTEMPTS = 6  # per request, 429s included
RETRY_MARGIN = 0.5  # seconds the retried request itself needs before the deadline


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


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer, read in full (bounded by MAX_BODY)."""

    status: int
    retry_after: str | None
    body: bytes


@dataclass(slots=True)
class RetryBudget:
    """What the retry loop may spend: attempts, the longest wait, the call's deadline.

    ``not_before`` is shared by every request of one fetch: a 429 pauses them all, not just
    the one that got it.
    """

    deadline: float | None
    budget: float | None
    max_retry_wait: float
    max_attempts: int = MAX_ATTEMPTS
    not_before: float = 0.0

    def refusal(self, wait: float, now: float, attempt: int) -> str:
        """Why a wait of ``wait`` seconds is not worth it ('' when it is)."""
        if attempt >= self.max_attempts:
            return f"still limited after {self.max_attempts} attempts"
        if wait > self.max_retry_wait:
            return f"the wait exceeds max_retry_wait={self.max_retry_wait:g} s"
        if self.deadline is not None and now + wait + RETRY_MARGIN > self.deadline:
            return (
                f"waiting {wait:g} s does not fit in the {self.deadline - now:.1f} s left of the "
                f"call's time budget (timeout={self.budget:g} s)"
            )
        return ""


async def retry_rate_limited(
    send: Callable[[], Awaitable[Answer]], endpoint: str, policy: RetryBudget
) -> Answer:
    """``send()`` until it is not a 429, waiting each Retry-After while the budget allows.

    Raises:
        CloudflareRateLimited: a 429 whose wait does not fit (or too many of them).
    """
    loop = asyncio.get_running_loop()
    attempt = 0
    while True:
        attempt += 1
        pause = policy.not_before - loop.time()
        if pause > 0:
            await asyncio.sleep(pause)
        answer = await send()
        if answer.status != 429:
            return answer
        delay = _seconds(answer.retry_after)
        wait = 1.0 if delay is None else delay  # Cloudflare sends it; if not, a polite second
        now = loop.time()
        why = policy.refusal(wait, now, attempt)
        if why:
            raise CloudflareRateLimited(
                endpoint,
                429,
                f"rate limited by the Cloudflare API on {endpoint} (HTTP 429, "
                f"Retry-After {answer.retry_after!r}): {why}",
                (971,),
            )
        logger().info(
            "cloudflare_rate_limited",
            integration=NAME,
            endpoint=endpoint,
            retry_after_s=wait,
            attempt=attempt,
        )
        policy.not_before = max(policy.not_before, now + wait)


class Client:
    """GETs with the envelope checked, bounded concurrency and rate-limit retries.

    Args:
        session: the aiohttp session (its trust roots decide what https means).
        base: the API base, already checked by :func:`api_base_url`.
        token: the API token; sent only as ``Authorization: Bearer`` to ``base``.
        retry: the rate-limit retry budget of this fetch.
        concurrency: requests in flight at once.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        token: str,
        *,
        retry: RetryBudget,
        concurrency: int,
    ) -> None:
        self._session = session
        self._base = base
        self._token = token
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._retry = retry
        self._sem = asyncio.Semaphore(concurrency)

    def __repr__(self) -> str:
        return f"Client(base={self._base!r})"

    async def get(self, path: str, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        """The envelope of a successful GET of ``path`` (below the base)."""
        endpoint = f"GET {path}"
        answer = await retry_rate_limited(lambda: self._send(path, params, endpoint), endpoint, self._retry)
        status = answer.status
        if 300 <= status < 400:
            raise CloudflareAPIError(
                endpoint,
                status,
                f"{endpoint}: HTTP {status} redirect; not followed, so the token stays with the API base",
            )
        envelope = self._envelope(answer.body, endpoint, status)
        if status != 200 or envelope.get("success") is not True:
            codes, text = _errors(envelope.get("errors"))
            raise CloudflareAPIError(
                endpoint,
                status,
                f"{endpoint}: HTTP {status}, Cloudflare errors: {self._scrub(text) or 'none given'}",
                codes,
            )
        return envelope

    async def result(self, path: str) -> dict[str, Any]:
        """The ``result`` object of a GET (an error if it is not an object)."""
        env = await self.get(path)
        result = env.get("result")
        if not isinstance(result, dict):
            raise CloudflareAPIError(f"GET {path}", 200, f"GET {path}: result is not an object")
        return result

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

    async def _send(self, path: str, params: Mapping[str, str | int] | None, endpoint: str) -> Answer:
        """One request, never following a redirect (the token would go along)."""
        import aiohttp

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
                body = await _read_limited(resp, endpoint)
                return Answer(resp.status, resp.headers.get("Retry-After"), body)
        except aiohttp.ClientError as exc:
            raise CloudflareAPIError(
                endpoint,
                None,
                f"{endpoint}: could not reach the Cloudflare API at "
                f"{_origin(self._base)}: {self._scrub(str(exc) or type(exc).__name__)}",
            ) from None

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
        parts.append(f"[{code}] {clip(str(e.get('message', '')), 200)}")
    return tuple(codes), "; ".join(parts[:5])


def _origin(base: str) -> str:
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"
