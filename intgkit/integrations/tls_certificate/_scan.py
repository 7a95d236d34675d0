"""Which protocol versions and cipher suites a server accepts: raw ClientHellos, concurrent and bounded.

For each version (SSL 3.0 to TLS 1.3) a first hello offers every suite of the registry; the
server's choice is one accepted suite. That suite is removed and the rest is offered again,
until the server refuses: each accepted suite costs one connection, each refusal one more
(sslyze instead tries every suite of its list on its own connection). After the first answer
the remaining suites are split into :data:`CHUNKS` lists eliminated side by side, so a server
with many suites is not scanned one round trip at a time.

Bounds (documented in docs/architecture.md): at most :data:`PER_HOST_CONNECTIONS` connections
to one server at once (a semaphore per scan, so the scan never floods a host), and a time
budget of its own: every connection's timeout is cut to what is left of it, and when it is
spent the versions not yet decided are reported as "unknown" with the reason, never guessed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ._ciphers import Suite, legacy_codes, registry, tls13_codes
from ._wire import SSL3, TLS10, TLS11, TLS12, TLS13, FlightReader, ServerFlight, client_hello, ephemeral_key

#: at most this many connections to one server at once, during a scan
PER_HOST_CONNECTIONS = 8
#: lists eliminated side by side per version, after the first answer
CHUNKS = 4

#: (column key, label, wire version)
VERSIONS: tuple[tuple[str, str, int], ...] = (
    ("ssl3_0", "SSL 3.0", SSL3),
    ("tls1_0", "TLS 1.0", TLS10),
    ("tls1_1", "TLS 1.1", TLS11),
    ("tls1_2", "TLS 1.2", TLS12),
    ("tls1_3", "TLS 1.3", TLS13),
)
OFFERED, NOT_OFFERED, UNKNOWN = "offered", "not offered", "unknown"


class ConnectFailed(ConnectionError):
    """No TCP connection: nothing about TLS can be said."""


class _BudgetSpent(Exception):
    """The scan's own time budget is used up."""


@dataclass(slots=True)
class Accepted:
    """One suite a server accepted at one version, with the ephemeral key it sent (TLS <= 1.2)."""

    suite: Suite
    ephemeral: tuple[str, str | None, int] | None = None


@dataclass(slots=True)
class VersionResult:
    """One version's outcome: offered / not offered / unknown, why, and the accepted suites."""

    state: str
    why: str
    accepted: list[Accepted] = field(default_factory=list)
    #: the first answer's whole flight (TLS <= 1.2: chain, OCSP staple, certificate request)
    flight: ServerFlight | None = None
    complete: bool = True


@dataclass(slots=True)
class ScanResult:
    """Every version's result, by column key, and the connections the scan made."""

    versions: dict[str, VersionResult]
    connections: int = 0
    peak_connections: int = 0

    def best_flight(self) -> ServerFlight | None:
        """The full flight of the highest version below TLS 1.3 that answered, if any."""
        for key in ("tls1_2", "tls1_1", "tls1_0", "ssl3_0"):
            r = self.versions.get(key)
            if r is not None and r.flight is not None and r.flight.certificates:
                return r.flight
        return None


class _Scanner:
    def __init__(
        self, address: str, port: int, server_name: str | None, timeout: float, budget: float
    ) -> None:
        self.address, self.port, self.server_name = address, port, server_name
        self.timeout = timeout
        self.deadline = asyncio.get_running_loop().time() + budget
        self.budget = budget
        self.limit = asyncio.Semaphore(PER_HOST_CONNECTIONS)
        self.connections = 0
        self.open = 0
        self.peak = 0

    def _left(self) -> float:
        left = self.deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise _BudgetSpent
        return min(self.timeout, left)

    async def exchange(self, version: int, suites: list[int], *, full: bool) -> ServerFlight:
        """Send one hello and read the answer; TCP failures raise, TLS refusals are returned."""
        async with self.limit:
            timeout = self._left()
            self.open += 1
            self.peak = max(self.peak, self.open)
            self.connections += 1
            try:
                return await asyncio.wait_for(self._exchange(version, suites, full), timeout)
            except TimeoutError:
                # cut short by the budget (timers may fire a hair early: compare the timeouts)
                if timeout < self.timeout or asyncio.get_running_loop().time() >= self.deadline:
                    raise _BudgetSpent from None
                raise
            finally:
                self.open -= 1

    async def _exchange(self, version: int, suites: list[int], full: bool) -> ServerFlight:
        try:
            reader, writer = await asyncio.open_connection(self.address, self.port)
        except OSError as exc:
            raise ConnectFailed(exc.strerror or str(exc) or type(exc).__name__) from None
        parser = FlightReader(full=full)
        try:
            writer.write(client_hello(version, suites, self.server_name))
            await writer.drain()
            while not parser.finished:
                data = await reader.read(65536)
                if not data:
                    break
                parser.feed(data)
        except ValueError:
            parser.flight.not_tls = True
        except OSError:  # a reset: a refusal
            pass
        finally:
            writer.transport.abort()
        return parser.flight

    async def version(self, version: int) -> VersionResult:
        codes = list(tls13_codes() if version == TLS13 else legacy_codes())
        try:
            first = await self.exchange(version, codes, full=version < TLS13)
        except (TimeoutError, ConnectFailed) as exc:
            return VersionResult(UNKNOWN, _why_unknown(exc, self.timeout))
        except _BudgetSpent:
            return VersionResult(UNKNOWN, f"the scan's budget of {self.budget:g} s was spent", complete=False)
        if first.version != version or first.suite not in codes:
            return VersionResult(NOT_OFFERED, _refusal(first, version))
        result = VersionResult(OFFERED, "", flight=first)
        result.accepted.append(self._accepted(first))
        rest = [c for c in codes if c != first.suite]
        chunks = [rest[i::CHUNKS] for i in range(CHUNKS)] if version < TLS13 else [rest]
        outcomes = await asyncio.gather(*(self._eliminate(version, c) for c in chunks if c))
        for accepted, complete in outcomes:
            result.accepted.extend(accepted)
            result.complete = result.complete and complete is True
        order = {c: i for i, c in enumerate(codes)}
        result.accepted.sort(key=lambda a: order[a.suite.code])
        if not result.complete:
            result.why = "the suite list may be incomplete: " + next(
                (why for _, why in outcomes if isinstance(why, str)), "a connection failed"
            )
        return result

    async def _eliminate(self, version: int, codes: list[int]) -> tuple[list[Accepted], bool | str]:
        """Offer ``codes`` until refused; (accepted, True) or (accepted so far, why incomplete)."""
        accepted: list[Accepted] = []
        remaining = list(codes)
        while remaining:
            try:
                flight = await self.exchange(version, remaining, full=version < TLS13)
            except _BudgetSpent:
                return accepted, f"the scan's budget of {self.budget:g} s was spent"
            except (TimeoutError, ConnectFailed) as exc:
                return accepted, _why_unknown(exc, self.timeout)
            if flight.version != version or flight.suite not in remaining:
                break
            accepted.append(self._accepted(flight))
            remaining.remove(flight.suite)
        return accepted, True

    @staticmethod
    def _accepted(flight: ServerFlight) -> Accepted:
        assert flight.suite is not None
        suite = registry()[flight.suite]
        key = None
        if flight.key_exchange is not None:
            key = ephemeral_key(flight.key_exchange, ecdhe=suite.key_exchange.startswith("ECDH"))
        return Accepted(suite, key)


def _why_unknown(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"no connection for this probe: {exc}"


def _refusal(flight: ServerFlight, version: int) -> str:
    if flight.not_tls:
        return "the server did not answer in TLS: this port may serve plain HTTP or another protocol"
    if flight.alert is not None:
        return f"the server refused it (TLS alert {flight.alert_name})"
    if flight.version is not None:
        names = {v: label for _, label, v in VERSIONS}
        return f"the server answered with {names.get(flight.version, hex(flight.version))} instead"
    return "the server closed the connection"


async def scan(
    address: str, port: int, server_name: str | None, *, timeout: float, budget: float
) -> ScanResult:
    """Scan every version concurrently (bounded per host); see the module docstring."""
    scanner = _Scanner(address, port, server_name, timeout, budget)
    tasks = {key: asyncio.ensure_future(scanner.version(v)) for key, _, v in VERSIONS}
    try:
        await asyncio.gather(*tasks.values())
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    return ScanResult(
        {key: t.result() for key, t in tasks.items()},
        connections=scanner.connections,
        peak_connections=scanner.peak,
    )
