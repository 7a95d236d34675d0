"""A local HTTP API that enforces a rate limit and answers 429 with Retry-After beyond it.

For trying and testing retries and rate limits without hammering a real service: the
README's and notebook 02's weather example, the 429-storm benchmark, and users' own tests.
It runs on 127.0.0.1 in a thread of its own, so a synchronous ``runner.run(...)`` (which runs
its own event loop) can call it from a script, a test or a notebook cell alike.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from types import TracebackType
from typing import Any, Self

__all__ = ["RateLimitedAPI"]


class RateLimitedAPI:
    """``GET /weather?city=NAME`` answers ``{"city", "temp_c"}``, at most ``rate`` per ``per`` s.

    A token bucket of ``rate`` tokens refilled over ``per`` seconds decides; a request that
    finds it empty gets ``429 Too Many Requests`` with ``Retry-After``: the seconds until a
    token is due (whole seconds rounded up, as RFC 9110 writes it, unless ``whole_seconds`` is
    False). ``fail_first`` makes the first requests for each city answer ``503``.

    Use as a context manager (``with RateLimitedAPI(5) as api: api.url``), or start()/stop().

    Attributes:
        url: the base URL once started (``http://127.0.0.1:PORT``).
        served, rejected, failed: requests answered 200, 429 and 503 so far.
    """

    def __init__(
        self,
        rate: float = 10.0,
        per: float = 1.0,
        *,
        fail_first: int = 0,
        latency: float = 0.0,
        whole_seconds: bool = True,
    ) -> None:
        if not (rate > 0 and per > 0 and math.isfinite(rate) and math.isfinite(per)):
            raise ValueError(f"rate and per must be positive and finite, got rate={rate!r}, per={per!r}")
        self.rate = float(rate)
        self.per = float(per)
        self.fail_first = fail_first
        self.latency = latency
        self.whole_seconds = whole_seconds
        self.url = ""
        self.served = 0
        self.rejected = 0
        self.failed = 0
        self._level = self.rate
        self._stamp = time.monotonic()
        self._seen: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None

    def _take(self) -> float:
        """0.0 when a token was taken, else the seconds until one is due."""
        now = time.monotonic()
        fill = self.rate / self.per
        self._level = min(self.rate, self._level + (now - self._stamp) * fill)
        self._stamp = now
        if self._level >= 1.0:
            self._level -= 1.0
            return 0.0
        return (1.0 - self._level) / fill

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        if self.latency:
            await asyncio.sleep(self.latency)
        city = request.query.get("city", "")
        wait = self._take()
        if wait > 0:
            self.rejected += 1
            value = str(max(1, math.ceil(wait))) if self.whole_seconds else f"{wait:.3f}"
            return web.json_response({"error": "rate limited"}, status=429, headers={"Retry-After": value})
        seen = self._seen[city] = self._seen.get(city, 0) + 1
        if seen <= self.fail_first:
            self.failed += 1
            return web.json_response({"error": "try again"}, status=503)
        self.served += 1
        temp = sum(map(ord, city)) % 35 - 5  # a stable made-up temperature per city
        return web.json_response({"city": city, "temp_c": temp})

    def start(self) -> Self:
        """Start serving in a daemon thread; returns once the port is known."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=main, name="intgkit-ratelimited-api", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _serve(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/weather", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def stop(self) -> None:
        """Stop serving and join the thread; safe to call twice."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"<RateLimitedAPI {self.url or '(stopped)'} {self.rate:g}/{self.per:g} s: "
            f"{self.served} served, {self.rejected} rate limited, {self.failed} failed>"
        )
