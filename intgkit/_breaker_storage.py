"""Where breakers keep their state: this process's memory, or Redis to share it between processes.

Both are pybreaker's own storage classes (``CircuitMemoryStorage``, ``CircuitRedisStorage``),
handed to pybreaker through its public ``state_storage=`` argument. What pybreaker's Redis
storage does not do by itself, and is done here (verified against pybreaker 1.4.1 and
redis-py 8.1):

- **A namespace per breaker.** Without one, every breaker uses the keys ``pybreaker:*``, so
  tripping one opens them all. Keys here are ``<namespace>:<breaker>:pybreaker:*``.
- **Fail fast.** redis-py 8's default client retries with backoff: one GET to a dead server
  took 3.85 s, and these calls run on the event loop (the breaker is consulted before and after
  every call). The client built from a URL retries never and times out after 0.25 s.
- **Refuse a wrong address up front.** The runner pings the server when it is built, so a typo
  in the URL is a clear error before any run, not a silent fallback.

What stays pybreaker's behaviour, and is documented (README, docs/architecture.md): when Redis
becomes unreachable *during* a run, pybreaker logs the error (logger ``"pybreaker"``) and the
breaker fails open (state "closed", counter 0): calls go on being made. ``opened_at`` is kept in
whole seconds of wall-clock time, so use ``reset_timeout`` >= 2 s and synchronised clocks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._errors import MissingExtraError, UsageError
from ._log import logger

if TYPE_CHECKING:
    import pybreaker

__all__ = ["StorageFactory", "connect_redis", "storage_factory"]

#: Builds the storage of one breaker from its label (``name`` or ``name@target``).
StorageFactory = Callable[[str], "pybreaker.CircuitBreakerStorage"]

#: Seconds a Redis command may take before the breaker gives up on it (it runs on the loop).
REDIS_TIMEOUT_S = 0.25


def storage_factory(storage: object, namespace: str) -> tuple[StorageFactory, str]:
    """(a factory of per-breaker storages, a description without credentials) for ``storage``:
    None or "memory", a ``redis://`` / ``rediss://`` / ``unix://`` URL, or a redis.Redis client."""
    if not isinstance(namespace, str) or not namespace or any(c.isspace() for c in namespace):
        raise UsageError(f"breaker_namespace must be a non-empty string without spaces, got {namespace!r}")
    if storage is None or storage == "memory":
        return _memory, "memory"
    client, where = connect_redis(storage, "breaker_storage")

    def redis_storage(label: str) -> pybreaker.CircuitBreakerStorage:
        import pybreaker

        try:
            return pybreaker.CircuitRedisStorage(
                pybreaker.STATE_CLOSED, client, namespace=f"{namespace}:{label}"
            )
        except Exception as exc:  # noqa: BLE001 - Redis went away: this breaker is local, said so
            with contextlib.suppress(Exception):
                logger().warning(
                    "breaker_storage_unavailable",
                    breaker=label,
                    storage=where,
                    error=type(exc).__name__,
                    fallback="memory",
                )
            return _memory(label)

    return redis_storage, f"redis {where}"


def connect_redis(storage: object, what: str) -> tuple[Any, str]:
    """(a fail-fast client, where it points without credentials) for ``storage``, pinged now so
    an unreachable server is the caller's ``UsageError`` before any work starts; ``what`` is the
    argument's name (``breaker_storage``, ``rate_limit_storage``), for the error."""
    client = redis_client(storage, what)
    where = _describe(client)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is the caller's to fix
        raise UsageError(
            f"{what}: cannot reach Redis at {where} ({type(exc).__name__}); start it, fix the "
            f"address, or use {what}='memory'"
        ) from None
    return client, where


def redis_client(storage: object, what: str) -> Any:
    """A fail-fast client for ``storage`` (a Redis URL, or a redis.Redis client as it is);
    ``what`` is the argument's name, for the error."""
    if isinstance(storage, str):
        if not storage.startswith(("redis://", "rediss://", "unix://")):
            raise UsageError(
                f"{what} must be 'memory', a Redis URL (redis://host:6379/0, rediss://..., "
                f"unix://...) or a redis.Redis client; got {_safe(storage)!r}"
            )
        return _client_from_url(storage, what)
    if callable(getattr(storage, "get", None)) and callable(getattr(storage, "setnx", None)):
        return storage
    raise UsageError(
        f"{what} must be 'memory', a Redis URL or a redis.Redis client, got {type(storage).__name__}"
    )


def _memory(label: str) -> pybreaker.CircuitBreakerStorage:
    import pybreaker

    return pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)


def _client_from_url(url: str, what: str) -> Any:
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError as exc:
        raise MissingExtraError("redis", "redis", f"{what}='redis://...'") from exc
    try:
        return redis.Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=REDIS_TIMEOUT_S,
            socket_timeout=REDIS_TIMEOUT_S,
        )
    except ValueError as exc:
        raise UsageError(f"{what}: not a valid Redis URL ({exc}): {_safe(url)!r}") from None


def _describe(client: Any) -> str:
    """host:port/db (or the socket path) of a client, never its password."""
    try:
        kw = client.connection_pool.connection_kwargs
    except AttributeError:
        return type(client).__name__
    if "path" in kw:
        return f"unix:{kw['path']}/{kw.get('db', 0)}"
    return f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


def _safe(url: str) -> str:
    """A URL with any user:password part hidden."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"[:200]
