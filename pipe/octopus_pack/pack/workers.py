"""Run the zip writer's units of work in forked worker processes, and hand the results back in plan order.

Why processes, not threads: on a tree of small files most of the cost is Python work per file (open, read,
CRC, one compressor call, headers), all under the GIL. In threads, every one of those calls hands the GIL over
between a worker and the writer; on a real node_modules tree (26,767 files, 2 cores) whole runs with processes
take 16% less time at `optimal` and 31% less at `fast`.

How: the workers are forked before any work is planned, so they share none of the plan's objects (touching
those would copy their pages into every worker). Each unit travels to one worker as a small pickled
description through that worker's own pipe, and its result comes back through another, as a few integers and
byte chunks. A unit goes to the worker with the least work outstanding; the writer reads results in plan
order, so the archive's bytes do not depend on the number of workers. Work in flight is bounded (pipes of
1 MiB, a few units per worker), and so is memory. A OneOff runs a single piece of work in a process that ends
with it: listing the files, while the pipe itself is still starting.

With one worker, or without fork (not Linux), the units run in this process.
"""

import contextlib
import fcntl
import gc
import logging
import math
import os
import pickle
import signal
import struct
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, Protocol, TypeVar

from octopus_pack.errors import PipeError

log = logging.getLogger(__name__)

Buffer = bytes | bytearray | memoryview

_PIPE_CAPACITY = 1 << 20  # Linux's ceiling for an unprivileged F_SETPIPE_SZ
_UNITS_AHEAD = 4  # units in flight per worker: enough to keep it busy while the writer catches up
_RESULT_HEADER = struct.Struct("<BBB")  # status, then how many numbers and chunks follow
_LENGTH = struct.Struct("<Q")
_OK, _FAILED = 0, 1


class Result(NamedTuple):
    """A unit's result as it travels: a few integers, and chunks of bytes that each arrive as one piece.

    A chunk is given as a list of parts, so a worker sends headers and payloads with one writev, uncopied.
    """

    numbers: tuple[int, ...]
    chunks: list[list[Buffer]]


class Received(NamedTuple):
    """A Result as the writer gets it back: each chunk's parts joined."""

    numbers: tuple[int, ...]
    chunks: list[bytes]


class Unit(Protocol):
    """One unit of work: `work` is the picklable description a worker runs; `cost` weighs it for balancing."""

    @property
    def work(self) -> Any: ...

    @property
    def cost(self) -> int: ...


AnyUnit = TypeVar("AnyUnit", bound=Unit)
Runner = Callable[[Any], Result]


class WorkerPool:
    """Forks `count` workers that run `runner` (with one, or without fork, it runs here); close() ends them."""

    def __init__(self, runner: Runner, count: int) -> None:
        self.runner = runner
        self.forked = None
        self.fallback: str | None = None  # why the work runs here: told when the work starts, not at fork time
        if count > 1 and _can_fork():
            gc.freeze()  # what exists now stays out of the collector's sight: no side copies its pages for it
            try:
                self.forked = _ForkedWorkers(runner, count)
            except OSError as error:  # a process or file limit: slower, but the package is the same
                gc.unfreeze()
                self.fallback = f"Cannot start packing worker processes ({error.strerror or error}): packing in " \
                                "this process only."

    def run_in_order(self, units: Iterable[AnyUnit]) -> Iterator[tuple[AnyUnit, Received]]:
        """(unit, result) for every unit, in the order given."""
        if self.fallback:
            log.warning("%s", self.fallback)
            self.fallback = None
        if self.forked is not None:
            yield from self.forked.run(units)
            return
        for unit in units:
            yield unit, _run_here(self.runner, unit.work)

    def close(self) -> None:
        if self.forked is not None:
            self.forked.stop()
            self.forked = None
            gc.unfreeze()


class OneOff:
    """One piece of work in a process of its own, forked now, which ends when its result is taken.

    For work whose memory should not outlive it: a process that walked a big tree keeps the heap it grew to, so
    a packing worker that did the walk would hold about 7 MB more for the rest of the run. Where fork is
    unavailable (or fork=False), the work runs here when its result is asked for.
    """

    def __init__(self, runner: Runner, work: Any, fork: bool = True) -> None:
        self.runner, self.work = runner, work
        self.forked: _ForkedWorkers | None = None
        if fork and _can_fork():
            try:
                self.forked = _ForkedWorkers(runner, 1)
            except OSError:  # a process or file limit: the work runs here instead
                return
            self.forked.send_first(work)

    def result(self) -> Received:
        if self.forked is None:
            return _run_here(self.runner, self.work)
        try:
            return self.forked.first_result()
        finally:
            self.close()

    def close(self) -> None:
        if self.forked is not None:
            self.forked.stop()
            self.forked = None


def _run_here(runner: Runner, work: Any) -> Received:
    numbers, chunks = runner(work)
    return Received(numbers, [b"".join(parts) for parts in chunks])


def _can_fork() -> bool:
    """Linux only: elsewhere fork is unsafe or missing, and the pipe runs on Linux anyway."""
    return sys.platform == "linux" and hasattr(os, "fork")


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


class _Worker:
    """The parent's side of one worker: its pid, where work goes, where results come from, what is pending."""

    def __init__(self, pid: int, work_fd: int, results: BinaryIO) -> None:
        self.pid = pid
        self.work_fd = work_fd
        self.results = results
        self.pending_cost = 0
        self.pending_bytes = 0  # descriptions it may not have read yet: must stay below the pipe's capacity


class _ForkedWorkers:
    def __init__(self, runner: Runner, count: int) -> None:
        self.workers: list[_Worker] = []
        self.capacity = _PIPE_CAPACITY
        try:
            for _ in range(count):
                self._fork_one(runner)
        except BaseException:
            self.stop()
            raise

    def _fork_one(self, runner: Runner) -> None:
        work_read, work_write = os.pipe()
        result_read, result_write = os.pipe()
        for fd in (work_write, result_write):
            try:
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_CAPACITY)
            except OSError:  # a lower limit or the per-user pipe quota: the default capacity works too
                self.capacity = min(self.capacity, fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ))
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the caller's stack
            status = 1
            try:
                os.close(work_write)
                os.close(result_read)
                for worker in self.workers:  # the other workers' pipes belong to the parent
                    os.close(worker.work_fd)
                    os.close(worker.results.fileno())
                _serve(runner, os.fdopen(work_read, "rb", buffering=_PIPE_CAPACITY), result_write)
                status = 0
            finally:
                os._exit(status)
        os.close(work_read)
        os.close(result_write)
        self.workers.append(_Worker(pid, work_write, os.fdopen(result_read, "rb", buffering=_PIPE_CAPACITY)))

    def send_first(self, work: Any) -> None:
        """For a single worker that runs a single piece of work: send it."""
        self._send(self.workers[0], self._message(work))

    def first_result(self) -> Received:
        return self._receive(self.workers[0])

    def run(self, units: Iterable[AnyUnit]) -> Iterator[tuple[AnyUnit, Received]]:
        in_flight: deque[tuple[AnyUnit, _Worker, int]] = deque()
        limit = _UNITS_AHEAD * len(self.workers)
        for unit in units:
            message = self._message(unit.work)
            worker = self._least_loaded()
            while in_flight and (len(in_flight) >= limit
                                 or worker.pending_bytes + len(message) > self.capacity // 2):
                yield self._deliver(in_flight.popleft())
            self._send(worker, message)
            worker.pending_cost += unit.cost
            worker.pending_bytes += len(message)
            in_flight.append((unit, worker, len(message)))
        while in_flight:
            yield self._deliver(in_flight.popleft())

    @staticmethod
    def _message(work: Any) -> bytes:
        description = pickle.dumps(work, protocol=pickle.HIGHEST_PROTOCOL)
        return _LENGTH.pack(len(description)) + description

    def _least_loaded(self) -> _Worker:
        return min(self.workers, key=lambda candidate: candidate.pending_cost)

    def _send(self, worker: _Worker, message: bytes) -> None:
        try:
            _write_all(worker.work_fd, [message])
        except BrokenPipeError:
            raise self._stopped(worker) from None

    def _deliver(self, flight: tuple[AnyUnit, _Worker, int]) -> tuple[AnyUnit, Received]:
        unit, worker, message_bytes = flight
        result = self._receive(worker)
        worker.pending_cost -= unit.cost
        worker.pending_bytes -= message_bytes
        return unit, result

    def _receive(self, worker: _Worker) -> Received:
        status, numbers, chunks = _RESULT_HEADER.unpack(self._exactly(worker, _RESULT_HEADER.size))
        if status == _FAILED:
            (length,) = _LENGTH.unpack(self._exactly(worker, _LENGTH.size))
            raise pickle.loads(self._exactly(worker, length))
        values = struct.unpack(f"<{numbers}q{chunks}Q", self._exactly(worker, 8 * (numbers + chunks)))
        return Received(values[:numbers], [self._exactly(worker, length) for length in values[numbers:]])

    def _exactly(self, worker: _Worker, length: int) -> bytes:
        data = worker.results.read(length)
        if len(data) != length:
            raise self._stopped(worker)
        return data

    def _stopped(self, worker: _Worker) -> PipeError:
        return PipeError(f"A packing worker process stopped unexpectedly ({self._how_it_ended(worker)}); nothing "
                         "was written. If the step ran out of memory, give it more (size: 2x) and run it again.")

    @staticmethod
    def _how_it_ended(worker: _Worker) -> str:
        try:
            _, status = os.waitpid(worker.pid, 0)
        except ChildProcessError:
            return f"pid {worker.pid}"
        pid, worker.pid = worker.pid, 0
        if os.WIFSIGNALED(status):
            return f"pid {pid}, killed by {signal.Signals(os.WTERMSIG(status)).name}"
        return f"pid {pid}, exit status {os.WEXITSTATUS(status)}"

    def stop(self) -> None:
        """Close the pipes (a worker still reading or writing stops), end the workers and reap them."""
        for worker in self.workers:
            with contextlib.suppress(OSError):
                os.close(worker.work_fd)
            worker.results.close()
        for worker in self.workers:
            if worker.pid:
                with contextlib.suppress(ProcessLookupError, ChildProcessError):
                    os.kill(worker.pid, signal.SIGKILL)
                    os.waitpid(worker.pid, 0)
        self.workers.clear()


def _serve(runner: Runner, work: BinaryIO, fd: int) -> None:
    """The worker's loop: run each description it is sent, and write back its result or the exception it raised."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent decides what an interruption means
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    failed = False
    while header := work.read(_LENGTH.size):
        (length,) = _LENGTH.unpack(header)
        description = work.read(length)
        if failed:  # keep reading until the parent, which raises the failure in plan order, closes the pipe
            continue
        try:
            numbers, chunks = runner(pickle.loads(description))
        except BaseException as error:
            data = _pickled(error)
            _write_all(fd, [_RESULT_HEADER.pack(_FAILED, 0, 0), _LENGTH.pack(len(data)), data])
            failed = True
            continue
        lengths = [sum(len(part) for part in parts) for parts in chunks]
        head = _RESULT_HEADER.pack(_OK, len(numbers), len(chunks)) + struct.pack(
            f"<{len(numbers)}q{len(chunks)}Q", *numbers, *lengths)
        _write_all(fd, [head, *(part for parts in chunks for part in parts)])


def _pickled(error: BaseException) -> bytes:
    """The exception for the parent to raise, with the worker's traceback as a note (shown with DEBUG)."""
    error.add_note("".join(["Raised in a packing worker:\n", *traceback.format_tb(error.__traceback__)]))
    try:
        return pickle.dumps(error)
    except Exception:  # an exception that cannot travel: send its text instead
        return pickle.dumps(RuntimeError("".join(traceback.format_exception(error))))


def _write_all(fd: int, parts: list[Buffer]) -> None:
    """writev until every byte is in the pipe (a blocking pipe takes all, unless a signal cuts it short)."""
    views = [memoryview(part).cast("B") for part in parts if len(part)]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first:first + 1024])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]
