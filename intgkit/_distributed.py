"""Distributed runs: the same runner, one partition of targets at a time, on Dask workers.

``runner.run(..., client=client)`` (and ``arun``, ``stream``) plans the run here, in the client
process, exactly as a local run (every caller mistake is raised before any work starts), then
cuts the targets into partitions and submits one task per partition to a dask.distributed
cluster. Each task runs the partition through an :class:`IntegrationRunner` on its worker, built
from the client runner's settings (timeouts, breakers, retries, rate limits, concurrency), and
returns the partition's results; the client hands them on as partitions finish, so
``stream()``, ``on_result``, the progress bar and the panel see them as they arrive.

What Dask does not give, and how this module gets it (docs/scaling.md):

- **Exactly one result per call.** A worker's death makes the scheduler re-run its tasks
  elsewhere from the start (at-least-once), and ``submit`` merges identical tasks unless told
  otherwise. Every partition has its own key (``pure=False``, a run id in the key) and the
  client keeps the first result of each partition and drops any other.
- **Settings without clear text in the cluster.** The values of the selected integrations'
  settings that are set in the client's environment are encrypted (Fernet, a new key per run);
  the ciphertext travels in the tasks, the key in a worker plugin registered for the run and
  removed at its end. The task graph, ``client.futures`` and the dashboard only ever hold the
  ciphertext; on a worker the values are put into its environment for the run and the old
  values put back when the run's plugin is removed. Settings the client does not have are read
  from the workers' own environment.
- **Cancelling.** A cancelled run cancels the partitions that have not finished; a partition
  already running on a worker runs to its end (Dask cannot stop running code), and its results
  are dropped.
- **Checks up front.** A closed or unreachable client, a cluster without workers, a worker
  without intgkit (or with another version) and an integration that cannot be pickled are
  reported as UsageError before any task is submitted, each check bounded in time.

The module is imported only for a distributed run (and on the workers); ``import intgkit``
never imports dask.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import math
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import MissingExtraError, UsageError
from ._integration import Integration
from ._models import IntegrationResult, Status
from ._planning import Call
from ._policies import RateLimit, Retry
from ._redact import describe_exception, redact
from ._version import __version__

if TYPE_CHECKING:
    from ._engine import OnStart
    from ._runner import IntegrationRunner

__all__ = ["DistributedRun", "check_client", "prepare", "run_partition"]

#: Seconds the checks before a run may take (the scheduler's answer to a probe of every worker).
CHECK_TIMEOUT_S = 10.0

#: Calls per partition: big enough that the scheduler's per-task cost (about a millisecond of
#: scheduler and client time, plus a fresh event loop on the worker) is small beside the calls,
#: small enough that partitions spread over the workers and a worker's death re-runs little.
#: Chosen from measurements (docs/scaling.md, "Partition size").
CALLS_PER_PARTITION = 2000

#: Partitions per worker at least, so that one slow partition does not hold up the end of a run.
PARTITIONS_PER_WORKER = 4

#: Entry-point group of installed integrations: those are looked up by name on the workers.
_GROUP = "intgkit.integrations"


def import_distributed() -> Any:
    """The ``distributed`` module, or MissingExtraError naming the extra that installs it."""
    try:
        import distributed
    except ImportError as exc:
        raise MissingExtraError("distributed", "dask", "a distributed run (client=...)") from exc
    return distributed


def check_client(client: object) -> None:
    """Refuse what is not a usable dask.distributed Client, without talking to it."""
    distributed = import_distributed()
    if not isinstance(client, distributed.Client):
        raise UsageError(
            f"client must be a dask.distributed Client, e.g. Client(LocalCluster(n_workers=2)) or "
            f"Client('tcp://scheduler:8786'); got {type(client).__name__}"
        )
    if client.asynchronous:
        raise UsageError(
            "client is asynchronous (Client(..., asynchronous=True)); pass an ordinary Client: "
            "the runner waits for it off the event loop, also under `await runner.arun(...)`"
        )
    if client.status != "running":
        raise UsageError(
            f"client is {client.status!r}, not running; connect a new Client to the scheduler "
            f"(a closed Client cannot be reused)"
        )


def check_cluster_options(workers: int | None, scheduler: str | None) -> None:
    """The command's --workers / --scheduler, checked before any call (the extra, the address)."""
    import_distributed()
    if scheduler is not None and not re.fullmatch(r"(tcp|tls|inproc|ucx)://[^\s/]+(:\d+)?/?", scheduler):
        raise UsageError(
            f"--scheduler {scheduler!r} is not a scheduler address; give one like tcp://host:8786"
        )


@contextlib.contextmanager
def cluster_client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A Client for the command: a LocalCluster of ``workers`` processes, or the scheduler's."""
    distributed = import_distributed()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=CHECK_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise UsageError(
                f"cannot connect to the Dask scheduler at {scheduler} within {CHECK_TIMEOUT_S:g} s "
                f"({type(exc).__name__}); is it running?"
            ) from None
        with client:
            yield client
        return
    with (
        distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


# -- the part that runs on the workers -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What a worker's runner is built from: the client runner's settings, rate limits shared."""

    #: the client runner's identity: a worker keeps one runner (and its breakers) per client runner
    runner_id: str
    timeout: float | None
    fail_max: int
    reset_timeout: float
    max_concurrency: int
    breaker_per_target: bool | None
    max_abandoned_threads: int
    retry: Retry | None
    rate_limits: dict[str, RateLimit | None] = field(default_factory=dict)
    cache_ttl: float | None = None
    #: True when the client runner's breakers live in Redis: the URL is in the sealed settings
    shared_breakers: bool = False
    breaker_namespace: str = "intgkit"
    #: True when the client runner's rate limits live in Redis: full limits, one shared bucket
    shared_rate_limits: bool = False


@dataclass(frozen=True, slots=True)
class Partition:
    """One task: every selected integration over a slice of the targets."""

    run_id: str
    number: int
    #: names (installed integrations, looked up on the worker) or the objects themselves
    integrations: tuple[str | Integration, ...]
    targets: tuple[str, ...] | None
    timeout: Any
    refresh: bool
    #: the settings the client has, encrypted with the run's key (never in clear text)
    sealed: bytes
    config: WorkerConfig

    def __repr__(self) -> str:  # what a dashboard or a log could show: no settings, not even sealed
        n = "none" if self.targets is None else len(self.targets)
        return f"<intgkit partition {self.number} of run {self.run_id}: {n} targets>"


#: On a worker: the run keys its plugins delivered, by run id.
_KEYS: dict[str, bytes] = {}
#: On a worker: environment values a run replaced, to put back when the run ends.
_SAVED_ENV: dict[str, dict[str, str | None]] = {}
#: On a worker: one runner per client runner, so breakers live across partitions and runs.
_RUNNERS: dict[str, tuple[WorkerConfig, IntegrationRunner]] = {}
_worker_lock = threading.Lock()


def run_partition(part: Partition, runner_class: type[IntegrationRunner]) -> list[IntegrationResult]:
    """Run one partition on a worker and return its results in selection order.

    ``runner_class`` is :class:`IntegrationRunner`, handed in by the runner that prepared the
    run (it travels by reference, so the worker imports it): the runner sits above this module
    (its ``client=`` argument leads here), so this module never imports it.
    """
    key = _KEYS.get(part.run_id)
    if key is None:
        raise RuntimeError(
            "this worker has no key for the run's settings (its plugin was removed: the run ended "
            "or was cancelled)"
        )
    from cryptography.fernet import Fernet

    opened: dict[str, Any] = json.loads(Fernet(key).decrypt(part.sealed))
    env: dict[str, str] = opened["env"]
    with _worker_lock:
        saved = _SAVED_ENV.setdefault(part.run_id, {})
        for name, value in env.items():
            if name not in saved:
                saved[name] = os.environ.get(name)
            os.environ[name] = value
        cfg = part.config
        held = _RUNNERS.get(cfg.runner_id)
        if held is None or held[0] != cfg:
            kwargs: dict[str, Any] = {}
            if cfg.shared_breakers:
                kwargs["breaker_storage"] = opened["breaker_storage"]
                kwargs["breaker_namespace"] = cfg.breaker_namespace
            if cfg.shared_rate_limits:
                kwargs["rate_limit_storage"] = opened["rate_limit_storage"]
                kwargs["breaker_namespace"] = cfg.breaker_namespace
            runner = runner_class(
                timeout=cfg.timeout,
                fail_max=cfg.fail_max,
                reset_timeout=cfg.reset_timeout,
                max_concurrency=cfg.max_concurrency,
                breaker_per_target=cfg.breaker_per_target,
                max_abandoned_threads=cfg.max_abandoned_threads,
                retry=cfg.retry,
                rate_limits=cfg.rate_limits,
                cache_ttl=cfg.cache_ttl,
                history=None,
                **kwargs,
            )
            _RUNNERS[cfg.runner_id] = (cfg, runner)
        else:
            runner = held[1]
    results = runner.run(list(part.integrations), part.targets, timeout=part.timeout, refresh=part.refresh)
    return list(results)


def _run_key_plugin(run_id: str, key: bytes) -> Any:
    """A worker plugin that hands the run's key to every worker, also to one started later."""
    distributed = import_distributed()

    # The class is made here (distributed is imported only for a distributed run), so
    # cloudpickle ships it by value: its methods reach this module's state by importing it
    # on the worker, never through globals pickled along with them.
    class RunKey(distributed.WorkerPlugin):  # type: ignore[misc,name-defined]  # a module held as Any
        """The key of one run's settings; removing the plugin forgets it and restores the env."""

        def __init__(self) -> None:
            self.run_id = run_id
            self.key = key

        def setup(self, worker: Any) -> None:
            from intgkit import _distributed

            _distributed.remember_key(self.run_id, self.key)

        def teardown(self, worker: Any) -> None:
            from intgkit import _distributed

            _distributed.forget_run(self.run_id)

    return RunKey()


def remember_key(run_id: str, key: bytes) -> None:
    """On a worker: keep a run's key (its plugin's set-up)."""
    with _worker_lock:
        _KEYS[run_id] = key


def forget_run(run_id: str) -> None:
    """On a worker: drop a run's key and put back the environment values it replaced."""
    with _worker_lock:
        _KEYS.pop(run_id, None)
        for name, old in _SAVED_ENV.pop(run_id, {}).items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _make_probe() -> Callable[[], str]:
    # Defined inside a function, so cloudpickle ships it by value: on a worker without intgkit
    # the probe still arrives and reports the missing package instead of failing to unpickle.
    def probe() -> str:
        try:
            from intgkit._version import __version__
        except ImportError as exc:
            import sys

            package = sys.modules.get("intgkit")
            if package is None:  # no intgkit at all (or one that fails to import)
                return f"missing: {type(exc).__name__}: {exc}"
            return str(package.__version__)  # an intgkit from before _version.py existed
        return str(__version__)

    return probe


# -- the client side -------------------------------------------------------------------------------


def _bounded(fn: Callable[[], Any], what: str) -> Any:
    """Call ``fn`` (a blocking request to the scheduler) at most CHECK_TIMEOUT_S seconds."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    t = threading.Thread(target=target, name="intgkit-dask-check", daemon=True)
    t.start()
    t.join(CHECK_TIMEOUT_S)
    if t.is_alive():
        raise UsageError(
            f"the Dask scheduler did not answer within {CHECK_TIMEOUT_S:g} s ({what}); check that "
            f"it is running and reachable, or connect a new Client"
        )
    if "error" in box:
        exc = box["error"]
        raise UsageError(f"{what} failed: {type(exc).__name__}: {describe_exception(exc)}") from exc
    return box["value"]


def _entry_point_names() -> set[str]:
    return {ep.name for ep in importlib.metadata.entry_points(group=_GROUP)}


def _by_name(integ: Integration) -> bool:
    """Whether the workers can look this integration up by name (an installed entry point)."""
    module = getattr(type(integ), "__module__", "__main__")
    return integ.name in _entry_point_names() and module != "__main__" and not module.startswith("__")


def _check_picklable(integ: Integration) -> None:
    import cloudpickle

    try:
        cloudpickle.dumps(integ)
    except Exception as exc:
        raise UsageError(
            f"integration {integ.name!r} cannot be sent to the Dask workers: {type(exc).__name__}: "
            f"{describe_exception(exc)}; create what it holds (locks, sessions, open files, "
            f"clients) inside its function, or install it as a package"
        ) from exc


def worker_config(runner: IntegrationRunner, specs: Sequence[Any], workers: int) -> WorkerConfig:
    """The client runner's settings for the workers; each worker gets limit / workers, or the
    whole limit when the buckets are shared through Redis (``rate_limit_storage``)."""
    limits_storage = getattr(runner, "_rate_limit_storage", None)
    shared_limits = limits_storage is not None and limits_storage != "memory"
    rate_limits: dict[str, RateLimit | None] = {}
    for spec in specs:
        limit = spec.policies.rate_limit if spec.policies is not None else None
        if limit is not None:
            rate_limits[spec.name] = limit if shared_limits else _share(limit, workers)
    storage = getattr(runner, "_breaker_storage", None)
    return WorkerConfig(
        runner_id=runner_identity(runner),
        timeout=runner.timeout,
        fail_max=runner.breakers.fail_max,
        reset_timeout=runner.breakers.reset_timeout,
        max_concurrency=runner.max_concurrency,
        breaker_per_target=runner.breaker_per_target,
        max_abandoned_threads=runner.max_abandoned_threads,
        retry=runner.retry,
        rate_limits=rate_limits,
        cache_ttl=runner.cache_ttl,
        shared_breakers=storage is not None and storage != "memory",
        breaker_namespace=getattr(runner, "_breaker_namespace", "intgkit"),
        shared_rate_limits=shared_limits,
    )


def _share(limit: RateLimit, workers: int) -> RateLimit:
    """One worker's share of a rate limit: the rate and the burst divided by the workers."""
    if workers <= 1:
        return limit
    return RateLimit(
        limit.rate / workers,
        limit.per,
        burst=max(1.0, limit.burst / workers),
        key=limit.key,
        max_wait=limit.max_wait,
    )


def runner_identity(runner: IntegrationRunner) -> str:
    ident = getattr(runner, "_dask_id", None)
    if ident is None:
        ident = uuid.uuid4().hex
        runner._dask_id = ident  # type: ignore[attr-defined]  # set once, lazily
    return str(ident)


def _partition_size(n_targets: int, n_integrations: int, workers: int) -> int:
    """Targets per partition (docs/scaling.md, "Partition size")."""
    by_calls = max(1, CALLS_PER_PARTITION // max(1, n_integrations))
    spread = max(1, math.ceil(n_targets / (workers * PARTITIONS_PER_WORKER)))
    return max(1, min(by_calls, spread))


def prepare(
    runner: IntegrationRunner,
    client: Any,
    calls: list[Call],
    timeout: Any,
    refresh: bool,
    runner_class: type[IntegrationRunner],
) -> DistributedRun:
    """Check the client, the workers and the integrations; build the run's partitions.

    ``runner_class`` is what each worker builds its runner from (:func:`run_partition`).

    Raises UsageError for anything that would make the run fail or hang, before any task is
    submitted.
    """
    check_client(client)
    specs: list[Any] = []
    for c in calls:
        if not specs or specs[-1] is not c.spec:
            if any(s is c.spec for s in specs):
                break
            specs.append(c.spec)
    n_targets = len(calls) // len(specs)
    targets = [c.target for c in calls[:n_targets]]
    versions: dict[str, str] = _bounded(lambda: client.run(_make_probe()), "checking the Dask workers")
    if not versions:
        raise UsageError(
            "the Dask cluster has no workers; start some (LocalCluster(n_workers=2), `dask worker "
            "tcp://scheduler:8786`) or wait for them with client.wait_for_workers(n)"
        )
    for address, version in sorted(versions.items()):
        if version.startswith("missing:"):
            raise UsageError(
                f"Dask worker {address} cannot import intgkit ({version[9:]}); install intgkit "
                f"(with the same extras) in every worker's environment"
            )
        if version != __version__:
            raise UsageError(
                f"Dask worker {address} has intgkit {version}, this process {__version__}; "
                f"install the same version on the workers"
            )
    selection: list[str | Integration] = []
    for spec in specs:
        integ = spec.integration
        if _by_name(integ):
            selection.append(integ.name)
        else:
            _check_picklable(integ)
            selection.append(integ)
    from cryptography.fernet import Fernet

    key = Fernet.generate_key()
    env: dict[str, str] = {}
    from ._settings import as_settings

    for spec in specs:
        for s in as_settings(spec.integration.settings):
            value = os.environ.get(s.name)
            if value:
                env[s.name] = value
    storage = getattr(runner, "_breaker_storage", None)
    if storage is not None and storage != "memory" and not isinstance(storage, str):
        raise UsageError(
            "a distributed run needs breaker_storage as a URL ('redis://host:6379/0'), not a "
            "redis.Redis client: each worker connects to it itself"
        )
    limits_storage = getattr(runner, "_rate_limit_storage", None)
    if limits_storage is not None and limits_storage != "memory" and not isinstance(limits_storage, str):
        raise UsageError(
            "a distributed run needs rate_limit_storage as a URL ('redis://host:6379/0'), not a "
            "redis.Redis client: each worker connects to it itself"
        )
    payload = {
        "env": env,
        "breaker_storage": storage if isinstance(storage, str) else None,
        "rate_limit_storage": limits_storage if isinstance(limits_storage, str) else None,
    }
    sealed = Fernet(key).encrypt(json.dumps(payload).encode())
    secrets = sorted({v for spec in specs for v in spec.secrets}, key=len, reverse=True)
    workers = len(versions)
    config = worker_config(runner, specs, workers)
    run_id = uuid.uuid4().hex[:12]
    parts: list[tuple[Partition, list[Call]]] = []
    if targets == [None]:
        parts.append((Partition(run_id, 0, tuple(selection), None, timeout, refresh, sealed, config), calls))
    else:
        size = _partition_size(n_targets, len(specs), workers)
        for number, start in enumerate(range(0, n_targets, size)):
            chunk = targets[start : start + size]
            part_calls = [
                calls[i * n_targets + start + j] for i in range(len(specs)) for j in range(len(chunk))
            ]
            part = Partition(
                run_id, number, tuple(selection), tuple(t for t in chunk if t is not None), timeout,
                refresh, sealed, config,
            )  # fmt: skip
            parts.append((part, part_calls))
    return DistributedRun(client, run_id, key, parts, secrets, runner_class)


class DistributedRun:
    """One distributed run: submit the partitions, deliver results as they finish."""

    def __init__(
        self,
        client: Any,
        run_id: str,
        key: bytes,
        parts: list[tuple[Partition, list[Call]]],
        secrets: list[str],
        runner_class: type[IntegrationRunner],
    ) -> None:
        self.client = client
        self._runner_class = runner_class
        self.run_id = run_id
        self._key = key
        self.parts = parts
        self._secrets = secrets
        #: the submitted partitions' futures (set by the collecting thread)
        self.futures: list[Any] = []

    def __repr__(self) -> str:
        return f"<DistributedRun {self.run_id}: {len(self.parts)} partitions>"

    async def drive(self, sink: Callable[[Call, IntegrationResult], Any], on_start: OnStart | None) -> None:
        """Submit every partition and hand each call's result to ``sink`` as partitions finish.

        Cancelling this coroutine cancels the partitions that have not finished.
        """
        distributed = import_distributed()
        client = self.client
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any, BaseException | None]] = asyncio.Queue()
        plugin_name = f"intgkit-run-{self.run_id}"
        stop = threading.Event()

        def submit_and_collect() -> None:
            # A thread of its own: the Client is synchronous, and its futures are waited for
            # here rather than on the caller's loop.
            def put(item: tuple[str, Any, BaseException | None]) -> None:
                with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                    loop.call_soon_threadsafe(queue.put_nowait, item)

            try:
                client.register_plugin(_run_key_plugin(self.run_id, self._key), name=plugin_name)
                futures = [
                    client.submit(
                        run_partition,
                        part,
                        self._runner_class,
                        key=f"intgkit-{self.run_id}-{part.number}",
                        pure=False,
                    )
                    for part, _ in self.parts
                ]
            except BaseException as exc:  # noqa: BLE001 - reported per call by the loop
                put(("", None, exc))
                return
            self.futures = futures
            if stop.is_set():  # cancelled while submitting: the loop's cleanup may have missed these
                with contextlib.suppress(Exception):
                    client.cancel(futures)
                return
            for fut in distributed.as_completed(futures):
                if stop.is_set():
                    break
                try:
                    put((fut.key, fut.result(), None))
                except BaseException as exc:  # noqa: BLE001 - a failed partition becomes its results
                    put((fut.key, None, exc))
                finally:  # the cluster may forget it: the results are here now
                    with contextlib.suppress(Exception):
                        fut.release()

        by_key = {f"intgkit-{self.run_id}-{p.number}": calls for p, calls in self.parts}
        self.futures = []
        collector = threading.Thread(
            target=submit_and_collect, name=f"intgkit-dask-{self.run_id}", daemon=True
        )
        collector.start()
        done: set[str] = set()
        try:
            while len(done) < len(by_key):
                key, results, exc = await queue.get()
                if key == "" and exc is not None:  # nothing was submitted
                    for part_calls in by_key.values():
                        self._fail(part_calls, exc, sink)
                    return
                if key in done or key not in by_key:
                    continue  # a partition's second answer (at-least-once re-runs): dropped
                done.add(key)
                part_calls = by_key[key]
                if exc is not None:
                    self._fail(part_calls, exc, sink)
                    continue
                self._deliver(part_calls, results, sink, on_start)
        finally:
            stop.set()
            pending = [f for f in self.futures if f.key not in done]
            await asyncio.shield(loop.run_in_executor(None, self._cleanup, pending, plugin_name))

    def _cleanup(self, pending: list[Any], plugin_name: str) -> None:
        client = self.client
        with contextlib.suppress(Exception):
            if pending:
                client.cancel(pending)
        self.futures = []
        with contextlib.suppress(Exception):
            client.unregister_worker_plugin(plugin_name)

    def _deliver(
        self,
        calls: list[Call],
        results: list[IntegrationResult],
        sink: Callable[[Call, IntegrationResult], Any],
        on_start: OnStart | None,
    ) -> None:
        if len(results) != len(calls):
            self._fail(
                calls, RuntimeError(f"a worker returned {len(results)} results for {len(calls)} calls"), sink
            )
            return
        for call, result in zip(calls, results, strict=True):
            if on_start is not None and result.started_at is not None:
                with contextlib.suppress(Exception):
                    on_start(call.spec.name, call.target)
            sink(call, result)

    def _fail(
        self, calls: list[Call], exc: BaseException, sink: Callable[[Call, IntegrationResult], Any]
    ) -> None:
        """Every call of a partition that failed as a whole (a worker died too often, a task
        could not be unpickled ...) gets an ``error`` result saying why."""
        name = type(exc).__name__
        message = redact(
            f"the partition failed on the Dask cluster: {describe_exception(exc)}", self._secrets
        )
        status = Status.CANCELLED if name in ("CancelledError", "FutureCancelledError") else Status.ERROR
        for call in calls:
            sink(
                call,
                IntegrationResult(
                    call.spec.name,
                    call.target,
                    status,
                    error_type=name,
                    error=message,
                    started_at=None,
                    duration_s=math.nan,
                    breaker_state=call.breaker.state,
                ),
            )
