"""Fake integrations from handlers, for testing code that runs integrations (runners, panels)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from .._integration import validate_name
from .._settings import Setting, as_settings

__all__ = ["FakeIntegration", "fake_integration"]


class FakeIntegration:
    """An integration whose fetch calls a sync or async handler and counts its calls.

    Attributes:
        calls: the targets it was called with, in call order (a breaker test can assert that
            an open breaker kept calls from reaching it).
    """

    def __init__(
        self,
        name: str,
        handler: Callable[[str | None], Any],
        *,
        title: str | None = None,
        settings: Iterable[str | Setting] = (),
        configured: bool = True,
        timeout: float | object | None = ...,
        breaker_per_target: bool = False,
    ) -> None:
        self.name = validate_name(name)
        self.title = title or name.replace("_", " ").title()
        self.settings: tuple[Setting, ...] = as_settings(settings)
        self.breaker_per_target = breaker_per_target
        if timeout is not ...:
            self.timeout = timeout
        self._handler = handler
        self._configured = configured
        self.calls: list[str | None] = []

    def is_configured(self) -> bool:
        """As given to the constructor."""
        return self._configured

    async def fetch(self, target: str | None) -> Any:
        """Record the call, then run the handler (in a thread when it is a plain function)."""
        self.calls.append(target)
        if inspect.iscoroutinefunction(self._handler):
            return await self._handler(target)
        return await asyncio.to_thread(self._handler, target)

    def __repr__(self) -> str:
        return f"<FakeIntegration {self.name!r} calls={len(self.calls)}>"


def fake_integration(
    name: str, result: Any = None, *, error: BaseException | None = None, delay: float = 0.0, **kwargs: Any
) -> FakeIntegration:
    """A FakeIntegration that waits ``delay`` seconds, then raises ``error`` or returns ``result``.

    ``result`` defaults to one section ``{"rows": [{"target": <target>}]}``.
    """

    async def handler(target: str | None) -> Any:
        if delay:
            await asyncio.sleep(delay)
        if error is not None:
            raise error
        return result if result is not None else {"rows": [{"target": target}]}

    return FakeIntegration(name, handler, **kwargs)
