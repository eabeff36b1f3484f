"""Run the zip writer's units of work on every usable core, and hand the results back in plan order.

Processes, not threads: on a tree of small files most of the cost is Python work per file, under the GIL
(docs/performance.md has the figures). The standard library's process pool runs the units; a bounded window of
futures keeps memory flat and the results in plan order, so the archive's bytes do not depend on the number of
workers. With one core, or where no process can start, the units run in this process.
"""

import contextlib
import ctypes
import gc
import logging
import math
import os
import signal
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

from octopus_pack.errors import PipeError

log = logging.getLogger(__name__)

_UNITS_AHEAD = 2  # units in flight per worker: enough to keep it busy while the writer catches up
_PR_SET_PDEATHSIG = 1

Work = TypeVar("Work")
Done = TypeVar("Done")


class WorkerPool:
    """`count` worker processes that run `runner` on units of work; with one, or without fork, it runs here.

    The workers are started at once, while the caller is small (before the file list exists), so they share
    none of the big objects made later. close() ends them.
    """

    def __init__(self, runner: Callable[[Any], Any], count: int,
                 initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> None:
        self.runner = runner
        self.count = count
        self.executor: ProcessPoolExecutor | None = None
        self.processes: list = []  # the workers' multiprocessing.Process objects, to say how one ended
        self.fallback: str | None = None  # why the work runs here: told when the work starts
        if count > 1 and sys.platform == "linux":  # fork: elsewhere unsafe or missing, and the pipe runs on Linux
            gc.freeze()  # what exists now stays out of the collectors' sight: no worker copies its pages for it
            executor = ProcessPoolExecutor(count, get_context("fork"), _start_worker, (os.getpid(), initializer,
                                                                                      initargs))
            try:
                executor.submit(int)  # starts every worker now (fork starts them all on the first submit)
                self.executor = executor
                self.processes = list((getattr(executor, "_processes", None) or {}).values())
            except OSError as error:  # a process or file limit: slower, but the package is the same
                _stop(executor, list((getattr(executor, "_processes", None) or {}).values()))
                self.fallback = f"Cannot start packing worker processes ({error.strerror or error}): packing in " \
                                "this process only."
            finally:
                gc.unfreeze()
        if self.executor is None and initializer is not None:
            initializer(*initargs)

    def run_in_order(self, units: Iterable[tuple[Work, Any]]) -> Iterator[tuple[Work, Any]]:
        """(unit, result) for every (unit, work) given, in that order; a unit's exception is raised in turn."""
        if self.fallback:
            log.warning("%s", self.fallback)
            self.fallback = None
        if self.executor is None:
            for unit, work in units:
                yield unit, self.runner(work)
            return
        in_flight: deque[tuple[Work, Future]] = deque()
        try:
            for unit, work in units:
                if len(in_flight) >= _UNITS_AHEAD * self.count:
                    yield self._next(in_flight)
                in_flight.append((unit, self.executor.submit(_run, self.runner, work)))
            while in_flight:
                yield self._next(in_flight)
        except BrokenProcessPool:
            raise PipeError(f"A packing worker process stopped unexpectedly ({self._how_one_ended()}); nothing "
                            "was written. If the step ran out of memory, give it more (size: 2x) and run it "
                            "again.") from None

    @staticmethod
    def _next(in_flight: deque[tuple[Work, Future]]) -> tuple[Work, Any]:
        unit, future = in_flight.popleft()
        return unit, future.result()

    def _how_one_ended(self) -> str:
        """The worker that ended on its own (the pool terminates the others), as 'pid N, killed by SIGKILL'."""
        self.close()
        for process in self.processes:
            code = process.exitcode
            if code is not None and code != -signal.SIGTERM:
                how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
                return f"pid {process.pid}, {how}"
        return "its pid unknown"

    def close(self) -> None:
        if self.executor is not None:
            _stop(self.executor, self.processes)
            self.executor = None


def _stop(executor: ProcessPoolExecutor, processes: list) -> None:
    """End the workers now, whatever they are doing (the package is finished or abandoned), and reap them."""
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.kill()
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            process.join()
    executor.shutdown(wait=True)


def _start_worker(parent: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """In each worker: the parent decides what a signal means, and its death ends the worker too."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):  # Linux's prctl: killed with the parent, even by SIGKILL
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)
    if initializer is not None:
        initializer(*initargs)


def _run(runner: Callable[[Any], Any], work: Any) -> Any:
    """Run one unit in a worker; an exception carries the worker's traceback as a note (shown with DEBUG)."""
    try:
        return runner(work)
    except BaseException as error:
        error.add_note("".join(["Raised in a packing worker:\n", *traceback.format_tb(error.__traceback__)]))
        raise


def usable_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may use: its CPU affinity, capped by a container's CPU quota (`docker run --cpus`).

    A CI container often sees every core of its host but may only use a few; a worker per host core would only
    cost memory.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cpu_quota(cgroup_root)
    return max(1, min(cores, math.ceil(quota))) if quota else max(1, cores)


def _cpu_quota(root: Path) -> float | None:
    """CPUs allowed by the cgroup (v2 cpu.max, or v1 cfs quota and period), or None when unlimited or unknown."""
    try:
        if (root / "cpu.max").is_file():
            quota, period = (root / "cpu.max").read_text().split()[:2]
        else:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1"):
            return None
        return int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None
