"""What can go wrong talking to the Cloudflare API, as exceptions that end one call.

    LookupError
    └── ZoneNotFoundError        the target names no zone the token can see
    RuntimeError
    └── CloudflareAPIError       the API refused a request or answered something unusable
        └── CloudflareRateLimited   HTTP 429 whose Retry-After did not fit the time budget

Inside one zone's audit a refused endpoint is not an exception that ends the call: it becomes
an ``-unknown`` finding (see :mod:`._zone`).
"""

from __future__ import annotations

from ..._policies import RateLimited


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
    def is_denied(self) -> bool:
        """Whether the token was refused for this request (HTTP 401 or 403).

        Cloudflare answers 403 both for a token it does not accept (code 9109, "Invalid access
        token") and for a valid token that lacks the endpoint's permission (code 10000,
        "Authentication error"): the status says "refused", the endpoint says what to grant,
        and the codes are shown, never branched on (Cloudflare publishes no table of them).
        """
        return self.status in (401, 403)


class CloudflareRateLimited(CloudflareAPIError, RateLimited):
    """HTTP 429 whose Retry-After did not fit the time budget, or the token's budget spent.

    An :class:`intgkit` ``RateLimited``: the runner's breaker does not count it as a failure
    of the API (the budget is spent; the service is fine).
    """


class ZoneNotFoundError(LookupError):
    """The target zone is not visible to the token."""
