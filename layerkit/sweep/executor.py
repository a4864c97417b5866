"""Where trials run: one :class:`Executor` interface, a local process pool and a Dask cluster.

The sweep driver hands an executor a picklable function and its tasks and consumes
:class:`Outcome` objects as trials finish, in completion order. Tasks are drawn from their
iterable only when a worker is free, so a driver that decides the next trial from the results so
far (``layerkit tune``: Optuna's ask/tell) sees each outcome before it is asked for a task. Both implementations give the
same guarantees, so the driver has one code path:

* a task whose worker process dies (SIGKILL, out-of-memory killer, a segfault) is run again, up
  to ``max_retries`` more times, then reported with ``died=True``; the other tasks never notice;
* an exception that escapes the function is reported as an error, never retried (the trial
  function of :mod:`layerkit.sweep.trial` catches the trial's own exceptions itself).

:class:`LocalExecutor` uses pebble's process pool, which (unlike
:class:`concurrent.futures.ProcessPoolExecutor`, whose pool breaks as a whole) tells exactly which
task's worker died and replaces only that worker. :class:`DaskExecutor` uses ``distributed``
(the ``dask`` extra): against a running scheduler, or a local cluster on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from layerkit._validation import short_repr
from layerkit.errors import LayerkitError
from layerkit.fileio import JsonLimits, UnsafeJson, read_json

__all__ = [
    "Executor",
    "LocalExecutor",
    "DaskExecutor",
    "Outcome",
    "make_executor",
    "available_cores",
    "MAX_RETRIES",
]

T = TypeVar("T")

#: Re-runs of a task whose worker died, before it is recorded as failed.
MAX_RETRIES = 3


def available_cores() -> int:
    """CPU cores this process may use (affinity-aware where the platform tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """How one task ended: ``value`` (what the function returned) or ``error`` (why not)."""

    task: T
    value: Any = None
    error: str | None = None
    died: bool = False  # the worker died on every attempt
    attempts: int | None = None  # None when the executor cannot tell (Dask retries by itself)

    @property
    def ok(self) -> bool:
        return self.error is None


class Executor(ABC):
    """Runs tasks in parallel worker processes; see the module docstring for the guarantees.

    Use as a context manager (``with executor: ...``) so workers and clusters are shut down.
    """

    name: str = "executor"

    def __init__(self, *, max_retries: int = MAX_RETRIES) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0 (received {max_retries})")
        self.max_retries = max_retries

    @property
    @abstractmethod
    def workers(self) -> int:
        """How many tasks run at once."""

    @property
    def threads_per_task(self) -> int:
        """BLAS threads a task may use without oversubscribing the cores it shares."""
        return 1

    @abstractmethod
    def run(self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[Outcome[T]]:
        """Run ``fn(task)`` for every task; yield one :class:`Outcome` per task as each finishes.

        A list goes to the workers at once; any other iterable is drawn from only when a worker
        is free, after the outcomes yielded so far were consumed. Closing the generator early (an exception or Ctrl-C in the consumer) cancels what has
        not finished yet.
        """

    def describe(self) -> str:
        return f"{self.name} ({self.workers} workers)"

    def close(self) -> None:  # noqa: B027 - optional hook: not every executor holds resources
        """Release workers and connections (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe_exception(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text or type(exc).__name__


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


# -- local ------------------------------------------------------------------------------------


def _watch_parent(parent_pid: int, interval: float = 0.5) -> None:
    """Exit this worker once its driver is gone, instead of training for nobody.

    A driver killed with SIGKILL cannot stop its workers; without this they would finish their
    trials (competing for the cores with a resumed sweep) before noticing the closed pipe.
    """
    while True:
        time.sleep(interval)
        if os.getppid() != parent_pid:
            os._exit(1)


def _init_local_worker(parent_pid: int) -> None:
    # Ctrl-C in a terminal reaches the whole process group; the driver alone decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="layerkit-parent-watch", daemon=True
    ).start()


class LocalExecutor(Executor):
    """A pool of ``workers`` processes on this machine (pebble), replacing any worker that dies.

    ``context`` is the multiprocessing start method; ``spawn`` (the default) starts clean
    interpreters, safe whatever threads the driver runs.
    """

    name = "local"

    def __init__(
        self, workers: int | None = None, *, max_retries: int = MAX_RETRIES, context: str = "spawn"
    ) -> None:
        super().__init__(max_retries=max_retries)
        if workers is not None and workers < 1:
            raise LayerkitError(f"--workers: must be >= 1 (received {workers})")
        self._workers = workers or available_cores()
        self._context = multiprocessing.get_context(context)

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def threads_per_task(self) -> int:
        return max(1, available_cores() // self._workers)

    def run(self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[Outcome[T]]:
        from concurrent.futures.process import BrokenProcessPool

        from pebble import ProcessExpired, ProcessPool

        source = iter(tasks)
        first = next(source, _END)
        if first is _END:
            return
        size = len(tasks) if isinstance(tasks, Sized) else self._workers
        pool = ProcessPool(
            max_workers=min(self._workers, size),
            context=self._context,
            initializer=_init_local_worker,
            initargs=(os.getpid(),),
        )
        # Only as many tasks in flight as workers: a retry then goes next, ahead of the tasks
        # not drawn yet, and stopping early leaves nothing queued inside the pool.
        queue: deque[tuple[T, int]] = deque([(first, 1)])
        pending: dict[Future[Any], tuple[T, int]] = {}
        try:
            while True:
                while len(pending) < self._workers:
                    if not queue:  # a worker is free: draw the next task only now
                        drawn = next(source, _END)
                        if drawn is _END:
                            break
                        queue.append((drawn, 1))
                    task, attempt = queue.popleft()
                    pending[pool.schedule(fn, args=(task,))] = (task, attempt)
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task, attempt = pending.pop(future)
                    try:
                        value = future.result()
                    except BrokenProcessPool as exc:
                        # workers that die while starting (an unimportable __main__, a broken
                        # install): not the trial's fault, so nothing is recorded against it
                        raise LayerkitError(
                            f"the local worker processes cannot start: {exc}"
                        ) from None
                    except ProcessExpired as exc:
                        if attempt <= self.max_retries:
                            queue.appendleft((task, attempt + 1))
                            continue
                        how = _describe_exit(exc.exitcode)
                        yield Outcome(
                            task, error=_died_message(how, attempt), died=True, attempts=attempt
                        )
                    except Exception as exc:  # noqa: BLE001 - reported as the task's error
                        yield Outcome(task, error=_describe_exception(exc), attempts=attempt)
                    else:
                        yield Outcome(task, value=value, attempts=attempt)
            pool.close()
        finally:
            # Normal end: workers are idle and exit. Early close (error, Ctrl-C): stop them now.
            if pending:
                pool.stop()
            pool.join()


#: Marks the end of a task iterable.
_END: Any = object()


def _died_message(how: str, attempts: int) -> str:
    return f"worker died ({how}) on each of {attempts} attempt(s)"


# -- Dask -------------------------------------------------------------------------------------


def _scheduler_allowed_failures(
    dask_scheduler: Any,
) -> int:  # pragma: no cover - runs on the scheduler
    return int(dask_scheduler.allowed_failures)


class DaskExecutor(Executor):
    """Trials as tasks on a Dask cluster: ``scheduler`` (``tcp://HOST:PORT`` or a scheduler file)
    or, when none is given, a local cluster of ``workers`` single-threaded worker processes on
    127.0.0.1.

    Worker death is retried by the scheduler itself (``distributed.scheduler.allowed-failures``,
    3 by default, the same as the local executor); after that the task fails with
    ``KilledWorker`` and is reported as died. Workers must have layerkit (and the plugins the
    spec uses) installed, and see the sweep folder at the same path (a shared filesystem).
    """

    name = "dask"

    def __init__(
        self,
        scheduler: str | None = None,
        workers: int | None = None,
        *,
        max_retries: int = MAX_RETRIES,
        connect_timeout: float | None = None,
    ) -> None:
        super().__init__(max_retries=max_retries)
        if workers is not None and workers < 1:
            raise LayerkitError(f"--workers: must be >= 1 (received {workers})")
        self.scheduler = scheduler
        self._requested_workers = workers
        self._connect_timeout = connect_timeout
        self._client: Any = None
        self._cluster: Any = None
        self._allowed_failures = max_retries

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise LayerkitError(
                "the dask executor needs the 'dask' extra: pip install 'layerkit[dask]'"
            ) from exc
        if self.scheduler:
            # default: dask's distributed.comm.timeouts.connect (30 s unless configured)
            kwargs: dict[str, Any] = (
                {} if self._connect_timeout is None else {"timeout": self._connect_timeout}
            )
            kwargs["address"] = _scheduler_address(self.scheduler)
            try:
                self._client = Client(**kwargs)
            except (OSError, TimeoutError, ValueError, TypeError) as exc:
                raise LayerkitError(
                    f"cannot connect to the Dask scheduler at {self.scheduler}: {exc}"
                ) from exc
            self._allowed_failures = self._client.run_on_scheduler(_scheduler_allowed_failures)
        else:
            n = self._requested_workers or available_cores()
            with dask.config.set({"distributed.scheduler.allowed-failures": self.max_retries}):
                self._cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            self._client = Client(self._cluster)
        return self._client

    @property
    def workers(self) -> int:
        client = self._connect()
        info = client.scheduler_info()
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def describe(self) -> str:
        client = self._connect()
        where = self.scheduler or "local cluster"
        return f"dask at {client.scheduler.address} ({where}, {self.workers} worker threads)"

    def run(self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[Outcome[T]]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        source = enumerate(tasks)
        first = next(source, None)
        if first is None:
            return
        client = self._connect()
        session = uuid.uuid4().hex[:8]
        futures: dict[Any, T] = {}

        def submit(index: int, task: T) -> Any:
            # A unique key per submission: a resumed driver must not attach to the stale task
            # of a killed one, and trials are not pure functions of their arguments (they write).
            future = client.submit(
                fn, task, key=f"layerkit-trial-{session}-{index}", pure=False, retries=0
            )
            futures[future] = task
            return future

        # A list goes to the scheduler at once; another iterable keeps one task per worker
        # thread in flight and is drawn from as each finishes.
        window = len(tasks) if isinstance(tasks, Sized) else self.workers
        initial = [submit(*first)]
        initial += [submit(i, t) for i, t in itertools.islice(source, max(0, window - 1))]
        remaining = set(initial)
        # with_results: fetch each result the moment it exists; a result left in a worker's
        # memory would be lost (and the trial run again) if that worker died before we asked.
        completed = as_completed(initial, with_results=True, raise_errors=False)
        try:
            for future, value in completed:
                remaining.discard(future)
                task = futures.pop(future)
                if future.status == "finished":
                    yield Outcome(task, value=value)
                else:
                    exc = future.exception()
                    if isinstance(exc, KilledWorker):
                        attempts = self._allowed_failures + 1
                        message = _died_message("its worker was lost", attempts)
                        yield Outcome(task, error=message, died=True, attempts=attempts)
                    else:
                        yield Outcome(task, error=_describe_exception(exc), attempts=1)
                future.release()
                drawn = next(source, None)  # only after the consumer has seen the outcome
                if drawn is not None:
                    added = submit(*drawn)
                    remaining.add(added)
                    completed.add(added)
        finally:
            if remaining:
                client.cancel(list(remaining))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _scheduler_address(scheduler: str) -> str:
    """The address of ``--scheduler``: given as such, or read from a scheduler file.

    Dask's own reading of a scheduler file fails with a traceback on a missing file or one
    without an address (``{}``); both are one-line errors here.
    """
    looks_like_file = "://" not in scheduler and (
        scheduler.endswith(".json") or os.sep in scheduler
    )
    if not os.path.exists(scheduler):
        if looks_like_file:
            raise LayerkitError(f"--scheduler {scheduler}: no such scheduler file")
        return scheduler
    try:
        info = read_json(scheduler, JsonLimits(max_bytes=1024 * 1024, max_depth=16))
    except UnsafeJson as exc:
        raise LayerkitError(f"--scheduler {scheduler}: not a Dask scheduler file ({exc})") from None
    address = info.get("address") if isinstance(info, dict) else None
    if not isinstance(address, str) or not address.strip():
        raise LayerkitError(
            f"--scheduler {scheduler}: the scheduler file holds no 'address' "
            f"(received {short_repr(info)}); is the scheduler running?"
        )
    return address


def make_executor(
    kind: str, *, workers: int | None = None, scheduler: str | None = None
) -> Executor:
    """The executor named on the command line: ``local`` or ``dask``."""
    if kind == "local":
        if scheduler:
            raise LayerkitError("--scheduler needs --executor dask")
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler, workers)
    raise LayerkitError(f"--executor: must be 'local' or 'dask' (received {kind!r})")
