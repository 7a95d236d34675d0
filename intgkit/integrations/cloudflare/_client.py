"""The Cloudflare API v4 client: where the token may go, the envelope, pagination, rate limits.

The token goes only to the configured API base, only over https (plain http only to loopback
test servers), never through a redirect, and never into rows, errors or logs.

Every answer is Cloudflare's envelope ``{success, errors, messages, result, result_info?}``;
anything else (or ``success`` not true, or a status other than 200) is a
:class:`CloudflareAPIError` naming the endpoint, the status and Cloudflare's error codes and
messages. Codes in ``messages`` are never read as errors (``/user/tokens/verify`` puts code
10000 there on success).

Rate limits and retries use intgkit's policies (docs/architecture.md, "Policies"): every
request takes a token from the token's bucket (:data:`BUDGET`: never more than 1,100 requests
in any 5 minutes, inside Cloudflare's documented 1,200, shared by every call and run of the
process), and a 429, a 5xx or no answer is retried by an :class:`intgkit.Retry` (Retry-After
obeyed, never past the deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..._errors import TransientError
from ..._log import logger
from ..._policies import RateLimit, RateLimited, Retry, TokenBucket
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


#: Cloudflare's documented budget: 1,200 requests per five minutes per user, counted across the
#: dashboard, API keys and tokens, and one request too many blocks every call for the next five
#: minutes (developers.cloudflare.com/fundamentals/api/reference/limits). So the bucket keeps
#: *any* 300 s to at most 1,100 requests (``RateLimit.at_most``): a bucket of the whole 1,200
#: refilling 1,200 per 300 s could send 1,200 + the refill inside one window and be blocked. The
#: 100 left of the 1,200 are for what else the same user does meanwhile (the dashboard, another
#: tool) and for the network reordering requests. Half of the 1,100 goes at once (550 requests,
#: about 25 zones at ~22 each: the whole audit of most accounts, unpaced, which matters because a
#: fetch's token waits count against its ``timeout``); the other half paces the rest at 1.8/s.
#: Shared by every request of every call and run in the process that uses the same token (and
#: API base), through intgkit's token bucket board, keyed by a keyed digest of the token.
BUDGET = RateLimit.at_most(1100, per=300.0, burst=550)


class Retryable(TransientError):
    """A 429 or 5xx answer: worth another try after Retry-After, or the policy's backoff."""

    def __init__(self, endpoint: str, answer: Answer) -> None:
        super().__init__(f"{endpoint}: HTTP {answer.status}", retry_after=answer.retry_after)
        self.answer = answer


class Unreachable(CloudflareAPIError):
    """No answer came (connection refused or reset, TLS failure, a read timeout)."""


@dataclass(slots=True)
class Policy:
    """What one fetch's requests may spend: the retry policy, the token's bucket, the deadline."""

    retry: Retry
    bucket: TokenBucket
    deadline: float | None
    budget: float | None


async def send_with_policies(
    send: Callable[[], Awaitable[Answer]],
    endpoint: str,
    policy: Policy,
    slot: asyncio.Semaphore | None = None,
) -> Answer:
    """``send()`` under the token's budget, retried on 429 / 5xx / no answer while it fits.

    Each request takes a token first (waiting while the budget is spent, as long as the fetch's
    deadline allows); a 429 waits its Retry-After exactly. intgkit's Retry decides, so a retry
    that cannot finish before the deadline is not started.

    ``slot`` (the fetch's bound on requests in flight) is taken *before* the token and held
    until the answer is read, so a request is sent as soon as its token is granted: requests
    that took tokens and then queued for a slot would reach the API later than the bucket
    paced them, bunched together, and a rolling window could count more than the budget.

    Raises:
        CloudflareRateLimited: no token in time, or a 429 whose wait does not fit.
        Unreachable: no answer, after the retries the policy allows.
    """
    loop = asyncio.get_running_loop()
    attempt = 0
    in_flight = slot if slot is not None else contextlib.nullcontext()
    while True:
        attempt += 1
        failure: Exception
        async with in_flight:
            left = None if policy.deadline is None else policy.deadline - loop.time() - RETRY_MARGIN
            try:
                await policy.bucket.acquire(None if left is None else max(left, 0.0))
            except RateLimited as exc:
                raise CloudflareRateLimited(
                    endpoint,
                    None,
                    f"rate limited before {endpoint}: the token's request budget is spent ({exc}); "
                    f"the time budget is timeout={policy.budget:g} s",
                    (971,),
                ) from None
            t = loop.time()
            try:
                answer = await send()
            except Unreachable as exc:
                failure = exc
            else:
                if answer.status != 429 and answer.status < 500:
                    return answer
                failure = Retryable(endpoint, answer)
        time_left = None if policy.deadline is None else policy.deadline - loop.time() - RETRY_MARGIN
        decision = policy.retry.next_wait(failure, attempt, time_left=time_left, attempt_s=loop.time() - t)
        if isinstance(decision, float):
            logger().info(
                "cloudflare_retry",
                integration=NAME,
                endpoint=endpoint,
                reason=str(failure),
                wait_s=round(decision, 3),
                attempt=attempt,
            )
            await asyncio.sleep(decision)
            continue
        why = decision or "not retried"
        if isinstance(failure, Unreachable):
            raise Unreachable(failure.endpoint, None, f"{failure} ({why})") from None
        assert isinstance(failure, Retryable)
        if failure.answer.status == 429:
            raise CloudflareRateLimited(
                endpoint,
                429,
                f"rate limited by the Cloudflare API on {endpoint} (HTTP 429, "
                f"Retry-After {failure.answer.retry_after!r}): {why}",
                (971,),
            )
        return failure.answer  # a 5xx still failing: the envelope's errors say what


class Client:
    """GETs with the envelope checked, bounded concurrency and rate-limit retries.

    Args:
        session: the aiohttp session (its trust roots decide what https means).
        base: the API base, already checked by :func:`api_base_url`.
        token: the API token; sent only as ``Authorization: Bearer`` to ``base``.
        retry: the request policy of this fetch (retries, the token's budget, the deadline).
        concurrency: requests in flight at once.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        token: str,
        *,
        retry: Policy,
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
        answer = await send_with_policies(
            lambda: self._send(path, params, endpoint), endpoint, self._retry, self._sem
        )
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
            async with self._session.get(  # in flight: get() holds one of the fetch's slots
                self._base + path,
                params=dict(params or {}),
                headers=self._headers,
                allow_redirects=False,
            ) as resp:
                body = await _read_limited(resp, endpoint)
                return Answer(resp.status, resp.headers.get("Retry-After"), body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unreachable(
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
