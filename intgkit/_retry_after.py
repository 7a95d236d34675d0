"""Retry-After (RFC 9110 §10.2.3): a number of seconds, or an HTTP-date, turned into seconds.

A server says "come back later" with ``Retry-After: 120`` or
``Retry-After: Wed, 21 Oct 2015 07:28:00 GMT``; HTTP-date has three accepted forms (§5.6.7:
IMF-fixdate, the obsolete RFC 850 form and asctime), all in GMT. The value comes from outside,
so anything else (garbage, a negative number, a date too far out to mean anything) is not an
error: :func:`parse_retry_after` returns None and the retry policy uses its own backoff.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

__all__ = ["MAX_RETRY_AFTER", "parse_retry_after"]

#: Waits longer than this (about 4 months) are read as garbage rather than as a plan.
MAX_RETRY_AFTER = 1e7


def parse_retry_after(value: object, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``now`` (default: the current UTC time), or None if unusable.

    Accepts a number of seconds (int, float, or their text, ``"1.5"`` included: servers send
    fractions although the RFC says digits), a :class:`~datetime.timedelta`, an aware or UTC
    :class:`~datetime.datetime`, or an HTTP-date string. A date in the past means "now" (0).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, timedelta):
        return _checked(value.total_seconds())
    if isinstance(value, (int, float)):
        return _checked(float(value))
    if isinstance(value, datetime):
        return _until(value, now)
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    try:
        return _checked(float(text))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return _until(when, now)


def _checked(seconds: float) -> float | None:
    if math.isnan(seconds) or seconds < 0 or seconds > MAX_RETRY_AFTER:
        return None
    return seconds


def _until(when: datetime, now: datetime | None) -> float | None:
    if when.tzinfo is None:  # asctime dates carry no zone; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    seconds = (when - current).total_seconds()
    return _checked(max(seconds, 0.0))
