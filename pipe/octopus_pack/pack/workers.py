"""Run the zip writer's units of work on every usable core, and hand the results back in plan order.

Processes, not threads: on small files most of the cost is Python work under the GIL. Each worker has its own
pipe and takes units in turn, so reading the pipes in the same turn gives plan order with no thread competing with
the writer for the GIL (concurrent.futures' pool has one; docs/performance.md measures both). A bounded window of
units in flight keeps memory flat. With one core, or where no process can start, the units run in this process.
"""

import contextlib
import ctypes
import gc
import logging
import math
import os
import pickle
import signal
import socket
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TypeVar

from octopus_pack.errors import PipeError

log = logging.getLogger(__name__)

_UNITS_AHEAD = 4  # units in flight per worker: enough to keep it busy while the writer catches up
_RESULTS_BUFFER = 4 << 20  # a worker's finished results wait here, not in the worker, until the writer reads them
_SMALL_WORK = 64 << 10  # a unit this small always fits in the pipe's buffer: sending it cannot block for long

Work = TypeVar("Work")


class WorkerPool:
    """`count` worker processes that run `runner` on units of work; with one, or without fork, it runs here.

    Started at once, while the caller is small, they share none of the big objects made later (the file list).
    """

    def __init__(self, runner: Callable[[Any], Any], count: int,
                 initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> None:
        self.runner = runner
        self.workers: list[tuple[BaseProcess, Connection]] = []
        self.fallback: str | None = None  # why the work runs here: told when the work starts
        if count > 1 and sys.platform == "linux":  # fork: elsewhere unsafe or missing, and the pipe runs on Linux
            context = get_context("fork")
            gc.freeze()  # what exists now stays out of the collectors' sight: no worker copies its pages for it
            try:
                for _ in range(count):
                    ours, theirs = context.Pipe()
                    # Let a worker's results queue in its socket (up to wmem_max), so it starts its next unit while
                    # the writer is busy with another worker's: a batch's result does not fit the default buffer.
                    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(theirs.fileno())) as end:
                        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _RESULTS_BUFFER)
                    process = context.Process(target=_serve, args=(theirs, os.getpid(), runner, initializer,
                                                                    initargs), daemon=True)
                    try:
                        process.start()
                    finally:
                        theirs.close()
                    self.workers.append((process, ours))
            except OSError as error:  # a process or file limit: slower, but the package is the same
                self.close()
                self.fallback = f"Cannot start packing worker processes ({error.strerror or error}): packing in " \
                                "this process only."
            finally:
                gc.unfreeze()
        if not self.workers and initializer is not None:
            initializer(*initargs)

    def run_in_order(self, units: Iterable[tuple[Work, Any]]) -> Iterator[tuple[Work, Any]]:
        """(unit, result) for every (unit, work) given, in that order; a unit's exception is raised in turn."""
        if self.fallback:
            log.warning("%s", self.fallback)
            self.fallback = None
        if not self.workers:
            for unit, work in units:
                yield unit, self.runner(work)
            return
        in_flight: deque[tuple[Work, Connection]] = deque()
        for turn, (unit, work) in enumerate(units):
            if len(in_flight) >= _UNITS_AHEAD * len(self.workers):
                yield self._next(in_flight)
            connection = self.workers[turn % len(self.workers)][1]
            message = pickle.dumps(work, pickle.HIGHEST_PROTOCOL)
            # A large unit could fill the pipe while its worker waits to hand back a large result: take that
            # worker's results first, so neither side waits for the other.
            while len(message) > _SMALL_WORK and any(busy is connection for _, busy in in_flight):
                yield self._next(in_flight)
            try:
                connection.send_bytes(message)
            except OSError:
                raise self._broken(connection) from None
            in_flight.append((unit, connection))
        while in_flight:
            yield self._next(in_flight)

    def _next(self, in_flight: deque[tuple[Work, Connection]]) -> tuple[Work, Any]:
        unit, connection = in_flight.popleft()
        try:
            succeeded, result = pickle.loads(connection.recv_bytes())
        except (EOFError, OSError):
            raise self._broken(connection) from None
        if not succeeded:
            raise result
        return unit, result

    def _broken(self, connection: Connection) -> PipeError:
        """The error for a worker behind a broken pipe, naming how it ended ('pid N, killed by SIGKILL'); ends the
        others."""
        process = next(process for process, ours in self.workers if ours is connection)
        process.join(5)  # its pipe closed as it exited: it is gone, or nearly
        code = process.exitcode
        self.close()
        how = ("" if code is None else f", killed by {signal.Signals(-code).name}" if code < 0
               else f", exit status {code}")
        return PipeError(f"A packing worker process stopped unexpectedly (pid {process.pid}{how}); nothing was "
                         "written. If the step ran out of memory, give it more (size: 2x) and run it again.")

    def close(self) -> None:
        """End the workers now, whatever they are doing (the package is finished or abandoned), and reap them."""
        workers, self.workers = self.workers, []
        for process, connection in workers:
            connection.close()
            with contextlib.suppress(OSError, ValueError):
                process.kill()
        for process, _ in workers:
            with contextlib.suppress(OSError, ValueError, AssertionError):
                process.join()


def _serve(connection: Connection, parent: int, runner: Callable[[Any], Any],
           initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """A worker: run each unit that arrives and send back (True, result), or (False, exception).

    The parent decides what a signal means, and its death ends the worker too (Linux's prctl PR_SET_PDEATHSIG).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            work = pickle.loads(connection.recv_bytes())
        except EOFError:  # the parent is done
            return
        try:
            reply = pickle.dumps((True, runner(work)), pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # handed to the parent, which raises it in turn
            error.add_note("".join(["Raised in a packing worker:\n", *traceback.format_tb(error.__traceback__)]))
            reply = pickle.dumps((False, error), pickle.HIGHEST_PROTOCOL)
        connection.send_bytes(reply)


def usable_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may use: its CPU affinity, capped by a container's CPU quota (`docker run --cpus`),
    since a CI container often sees every core of its host but may use only a few."""
    cores = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    try:  # cgroup v2 cpu.max, or v1 cfs quota and period; unlimited or unknown: the cores
        if (cgroup_root / "cpu.max").is_file():
            quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        else:
            quota = (cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup_root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        limit = 0 if quota in ("max", "-1") else math.ceil(int(quota) / int(period))
    except (OSError, ValueError, ZeroDivisionError):
        return cores
    return max(1, min(cores, limit)) if limit else cores
