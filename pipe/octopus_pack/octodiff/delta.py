"""Building an OCTODELTA: find the new file's runs that the basis already has, using only the basis signature.

The matching rules are Octodiff's (rsync-style greedy search, earliest position first, ties to the lowest
basis offset), so for "Adler32" signatures our deltas are byte-identical to what Octopus tooling writes.
Only the way of finding matches differs, to make it fast in Python:

* right after a match, the window that follows is compared with the basis chunk that follows, by one
  SHA1. Unchanged stretches of a package are long, so most of a typical delta costs one SHA1 a chunk;
* elsewhere the rolling checksums of a whole block of windows come from numpy prefix sums, a lookup
  table passes on only windows whose checksum is in the signature, and those get the SHA1 test.
"""

import hashlib
import mmap
import os
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import BinaryIO

import numpy as np

from .formats import COPY_PIECE_SIZE, DeltaWriter, Signature
from .formats import read_signature as parse_signature
from .matching import SCAN_BLOCK_SIZE, ChunkTable, WindowMatcher

# Octodiff reads the new file in buffers of this size and tries the signature's shortest chunk (the basis's
# tail) only in the last bytes of each buffer. We follow suit so the deltas stay identical.
READ_BUFFER_SIZE = 4 * 1024 * 1024
# After a match the next vectorised pass covers this many windows, doubling up to the maximum while
# nothing matches: edits are usually short, unrelated content long.
FIRST_SCAN_SIZE = 1 << 12
MAX_SCAN_SIZE = 8 * SCAN_BLOCK_SIZE
# Mapped pages of the new file behind the search are dropped this often, so RSS does not grow with it.
RELEASE_INTERVAL = 8 * 1024 * 1024
# Half of each long vectorised scan runs on a worker thread (numpy releases the GIL).
USE_WORKER_THREADS = True

_DONT_NEED = getattr(mmap, "MADV_DONTNEED", None)  # absent on Windows, where RSS is simply not trimmed


def search_ranges(file_size: int, longest: int, shortest: int) -> list[tuple[int, int, int]]:
    """(first, last, window) position ranges in the order Octodiff examines them.

    Octodiff reads 4 MiB buffers that overlap by longest - 1 bytes. In each buffer it tries windows of the
    longest chunk length while they fit and then, in the buffer's last bytes, windows of the shortest
    length, before the next buffer goes over those positions again with long windows.
    """
    if longest == 0 or file_size < shortest:
        return []
    ranges: list[tuple[int, int, int]] = []
    examined_up_to = {longest: -1, shortest: -1}

    def add(first: int, last: int, window: int) -> None:
        # A file that fills its last buffer exactly makes Octodiff re-read that buffer's tail: skip repeats.
        first = max(first, examined_up_to[window] + 1)
        if first > last:
            return
        examined_up_to[window] = last
        if ranges and ranges[-1][2] == window and ranges[-1][1] + 1 == first:
            ranges[-1] = (ranges[-1][0], last, window)
        else:
            ranges.append((first, last, window))

    step = READ_BUFFER_SIZE - longest + 1
    buffer_start = 0
    while True:
        read = min(READ_BUFFER_SIZE, file_size - buffer_start)
        add(buffer_start, buffer_start + read - longest, longest)
        if shortest < longest:
            add(buffer_start + max(0, read - longest + 1), buffer_start + read - shortest, shortest)
        if read < READ_BUFFER_SIZE:
            return ranges
        buffer_start += step


class _DeltaSearch:
    """One greedy pass over the memory-mapped new file, writing commands as matches are found."""

    def __init__(
        self,
        mapped: mmap.mmap,
        signature: Signature,
        writer: DeltaWriter,
        workers: ThreadPoolExecutor | None,
    ) -> None:
        self.chunks = ChunkTable(signature)
        self.mapped = mapped
        self.view = memoryview(mapped)
        self.data = np.frombuffer(mapped, dtype=np.uint8)
        self.file_size = len(mapped)
        self.rolling_algorithm = signature.rolling_algorithm
        self.writer = writer
        self.workers = workers
        self.last_match = 0
        self.expected_chunk = 0  # the chunk that follows the last one matched, in basis order
        self.released_up_to = 0

    def close(self) -> None:
        """Drop this object's exports of the mapping, so it can be closed."""
        self.view.release()
        del self.data

    def run(self) -> None:
        lengths = self.chunks.records["length"]
        if len(lengths):
            ranges = search_ranges(self.file_size, int(lengths.max()), int(lengths.min()))
            matchers = {
                window: WindowMatcher(self.chunks, self.rolling_algorithm, window, self.workers)
                for window in {window for _, _, window in ranges}
            }
            for first, last, window in ranges:
                self._search(first, last, matchers[window])
        if self.last_match < self.file_size:
            self._write_data(self.last_match, self.file_size)

    def _search(self, first: int, last: int, matcher: WindowMatcher) -> None:
        """Greedy matching of windows starting in [first, last], continuing from the last match."""
        window = matcher.window
        view = self.view
        sha1 = hashlib.sha1
        position = max(first, self.last_match)
        scanned_to = position  # candidates are known for window starts before this
        candidates: Sequence[int] = ()
        key_ids: Sequence[int] = ()
        next_candidate = 0
        scan_size = FIRST_SCAN_SIZE
        while position <= last:
            if position >= scanned_to:
                followed_to = self._follow_basis(position, last, window)
                if followed_to > position:
                    position = followed_to
                    scan_size = FIRST_SCAN_SIZE
                    continue
                scanned_to = min(position + scan_size, last + 1)
                candidates, key_ids = matcher.candidates(self.data, position, scanned_to)
                next_candidate = 0
                scan_size = min(2 * scan_size, MAX_SCAN_SIZE)
                if position - self.released_up_to >= RELEASE_INTERVAL:
                    self._release_behind(position)
            next_candidate = bisect_left(candidates, position, next_candidate)
            if next_candidate == len(candidates):
                position = scanned_to
                continue
            candidate = candidates[next_candidate]
            chunk = matcher.confirm(sha1(view[candidate : candidate + window]).digest(), key_ids[next_candidate])
            if chunk < 0:
                position = candidate + 1
                continue
            if candidate > self.last_match:
                self._write_data(self.last_match, candidate)
            self.writer.write_copy(self.chunks.copy_offsets[chunk], window)
            self.last_match = position = candidate + window
            self.expected_chunk = chunk + 1

    def _follow_basis(self, position: int, last: int, window: int) -> int:
        """Match the basis chunks that follow the last match, one SHA1 each, for as long as they continue.

        The window is compared with the chunk after the one matched last (unchanged content) and with that
        chunk itself (a run of repeated content, such as zeros). A window whose SHA1 equals a chunk's has
        that chunk's content, hence its rolling checksum, so Octodiff would match here too, copying from
        the first chunk with that hash. Returns the position after the last window matched (position
        itself when neither continues).
        """
        chunks = self.chunks
        lengths, copy_offsets, hash_of = chunks.lengths, chunks.copy_offsets, chunks.hash_of
        view, sha1 = self.view, hashlib.sha1
        chunk_count = len(lengths)
        expected = self.expected_chunk
        start = position
        run_offset = run_length = 0  # COPYs of adjacent basis ranges, merged before reaching the writer
        while position <= last:
            digest = sha1(view[position : position + window]).digest()
            if expected < chunk_count and lengths[expected] == window and digest == hash_of(expected):
                matched = expected
            elif 0 < expected <= chunk_count and lengths[expected - 1] == window and digest == hash_of(expected - 1):
                matched = expected - 1
            else:
                break
            if position == start and position > self.last_match:
                self._write_data(self.last_match, position)
            offset = copy_offsets[matched]
            if run_length and run_offset + run_length == offset:
                run_length += window
            else:
                if run_length:
                    self.writer.write_copy(run_offset, run_length)
                run_offset, run_length = offset, window
            position += window
            expected = matched + 1
            if position - self.released_up_to >= RELEASE_INTERVAL:
                self._release_behind(position - window)
        if run_length:
            self.writer.write_copy(run_offset, run_length)
            self.last_match = position
            self.expected_chunk = expected
        return position

    def _write_data(self, start: int, stop: int) -> None:
        """DATA for the new file's bytes [start, stop)."""
        self.writer.write_data(stop - start, self.pieces(start, stop))

    def pieces(self, start: int, stop: int) -> Iterator[memoryview]:
        """The new file's bytes [start, stop) in bounded pieces, unmapped again once written."""
        for piece_start in range(start, stop, COPY_PIECE_SIZE):
            piece_stop = min(piece_start + COPY_PIECE_SIZE, stop)
            yield self.view[piece_start:piece_stop]
            self._release(piece_start, piece_stop)

    def _release_behind(self, position: int) -> None:
        """Unmap pages the search has passed; DATA still to be written re-reads them from the page cache."""
        self._release(self.released_up_to, position)
        self.released_up_to = position

    def _release(self, start: int, stop: int) -> None:
        """Drop the whole pages inside [start, stop) from this process (not from the page cache)."""
        if _DONT_NEED is None:
            return
        first_page = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
        length = (stop - first_page) // mmap.PAGESIZE * mmap.PAGESIZE
        if length > 0:
            self.mapped.madvise(_DONT_NEED, first_page, length)


def build_delta(
    new_file: str | os.PathLike, signature: bytes | Signature, out: BinaryIO, *, new_file_sha1: bytes
) -> int:
    """Write an OCTODELTA turning the signature's basis into new_file; return the number of bytes written.

    new_file_sha1 goes into the header, where the server checks the file it rebuilds. The caller already
    has it (the package's SHA-1 is computed while the package is written or read), so the file is not
    hashed a second time here.
    """
    if not isinstance(signature, Signature):
        signature = parse_signature(signature)
    writer = DeltaWriter(out)
    writer.write_header(new_file_sha1)
    with open(new_file, "rb") as file:
        if os.fstat(file.fileno()).st_size:
            with _read_only_mapping(file) as mapped:
                if USE_WORKER_THREADS:
                    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="octodiff") as workers:
                        _search_file(mapped, signature, writer, workers)
                else:
                    _search_file(mapped, signature, writer, None)
    writer.finish()
    return writer.bytes_written


@contextmanager
def _read_only_mapping(file: BinaryIO) -> Iterator[mmap.mmap]:
    """mmap of the whole file. If an error leaves a numpy view alive in its traceback, the mapping cannot
    close yet; it is then released with the view, and the original error is what the caller sees."""
    mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        yield mapped
    finally:
        with suppress(BufferError):
            mapped.close()


def _search_file(
    mapped: mmap.mmap,
    signature: Signature,
    writer: DeltaWriter,
    workers: ThreadPoolExecutor | None,
) -> None:
    search = _DeltaSearch(mapped, signature, writer, workers)
    try:
        search.run()
    finally:
        search.close()
