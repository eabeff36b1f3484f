"""Write a standard zip archive from files on disk, compressing on every core, in bounded memory.

All rules about entries live here: '/' names flagged UTF-8 when not ASCII, DOS times clamped to 1980..2107,
Unix permission bits kept, Zip64 only when sizes, offsets or counts need it, no data descriptors. Files are
read and deflated by one worker process per core (workers.py): small files in batches, large files in 1 MiB
blocks joined into one deflate stream. Workers return compressed data and its CRC; this process writes every
header, strictly in entry order, and the block boundaries are fixed, so the same input always gives the same
bytes, whatever the number of workers. The SHA-256 and SHA-1 of the archive are taken as it is written.
"""

import functools
import hashlib
import os
import stat
import struct
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple, cast

from octopus_pack.errors import PipeError
from octopus_pack.pack.compression import (
    WINDOW,
    CompressionLevel,
    Deflater,
    WholeCompressor,
    crc32,
    crc32_combine,
    deflater_for,
)
from octopus_pack.pack.workers import WorkerPool, usable_cores

BLOCK_SIZE = 1 << 20  # files above this are split into blocks compressed in parallel
BATCH_BYTES = 1 << 20  # small files are read and compressed this many bytes at a time per unit
BATCH_FILES = 256  # fewer, larger units: each costs a round trip through the pool
_PROBE_BYTES = 64 << 10
_DIRECTORY_BUFFER = 1 << 20
_READ_BACK = 1 << 20
_INCOMPRESSIBLE = 0.95  # a large file whose sample deflates to more than this is stored

_STORED, _DEFLATED = 0, 8
_ZIP64_LIMIT = 0xFFFFFFFF  # sizes and offsets from here on need Zip64 records
_MARKER = 0xFFFFFFFF  # what a 32-bit field holds when the real value is in the Zip64 extra
_UTF8_FLAG = 0x800
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_ZIP64_END = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_DOS_MIN = (1980, 1, 1, 0, 0, 0)
_DOS_MAX = (2107, 12, 31, 23, 59, 58)

ProgressCallback = Callable[[int, int], None]  # (files finished, bytes read) since the last call
Compressed = tuple[int, int, int, bytes | bytearray | memoryview]  # CRC, size, method, payload
# A batch's entries as (CRC, size, method, payload length) and their payloads joined: one pickle frame, not 256
CompressedBatch = tuple[list[tuple[int, int, int, int]], bytes]


class ArchiveEntry(NamedTuple):
    """One entry to write: a file on disk (path) or generated content (data)."""

    name: str
    size: int
    mtime: float
    mode: int  # Unix permission bits
    path: str | None = None
    data: bytes | None = None


class _Unit(NamedTuple):
    """A piece of work in entry order: a batch of small entries, or one block of a large entry."""

    entries: list[ArchiveEntry]  # the batch, or the single large entry a block belongs to
    block: int | None = None  # None for a batch of whole entries
    blocks: int = 1


@dataclass(slots=True)
class _Record:
    """What the central directory needs to know about a written entry."""

    name: bytes
    flags: int
    method: int
    dos_time: int
    dos_date: int
    crc: int
    compressed: int
    size: int
    mode: int
    offset: int


@dataclass
class ZipStats:
    """Totals of a written archive, and its digests."""

    entries: int = 0
    raw_bytes: int = 0
    stored_entries: int = 0
    size: int = 0
    sha256: str = ""
    sha1: str = ""


class ZipWorkers:
    """The processes that read and deflate entries: start them before the file list exists, so that neither side
    copies its pages (see WorkerPool)."""

    def __init__(self, level: CompressionLevel, fixed_time: float | None = None, workers: int | None = None) -> None:
        self.deflater = deflater_for(level, deterministic=fixed_time is not None)
        self.fixed_time = fixed_time
        self.pool = WorkerPool(_run_unit, workers or usable_cores(), _set_deflater, (self.deflater,))

    def __enter__(self) -> "ZipWorkers":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.pool.close()

    def write(self, out: BinaryIO, entries: Iterable[ArchiveEntry], *,
              on_progress: ProgressCallback | None = None) -> ZipStats:
        """Write entries, in order, as a zip to out (a regular file opened for writing and reading: w+b)."""
        writer = _ZipStreamWriter(out, self.deflater, self.fixed_time, on_progress)
        for unit, result in self.pool.run_in_order(writer.plan(entries)):
            writer.consume(unit, result)
        writer.finish()
        return writer.stats


def write_zip(out: BinaryIO, entries: Iterable[ArchiveEntry], level: CompressionLevel, *,
              fixed_time: float | None = None, workers: int | None = None,
              on_progress: ProgressCallback | None = None) -> ZipStats:
    """Write entries as a zip with workers of its own; fixed_time, when given, is every entry's time (as UTC), which
    makes a reproducible package, and then only deterministic compressors are used."""
    with ZipWorkers(level, fixed_time, workers) as pool:
        return pool.write(out, entries, on_progress=on_progress)


class _ZipStreamWriter:
    """Lays out headers and data as results arrive; keeps only the central directory in memory."""

    def __init__(self, out: BinaryIO, deflater: Deflater | None, fixed_time: float | None,
                 on_progress: ProgressCallback | None) -> None:
        self.out = out
        self.deflater = deflater
        self.fixed_time = fixed_time
        self.on_progress = on_progress or (lambda files, nbytes: None)
        self.offset = 0
        self.stats = ZipStats()
        self.sha256 = hashlib.sha256()
        self.sha1 = hashlib.sha1(usedforsecurity=False)
        self.hashed = 0  # bytes hashed so far, from the start
        self.read_back = memoryview(bytearray(_READ_BACK))
        # Central directory records wait in a small buffer that spills to a file: memory must not grow with files.
        self.directory = bytearray()
        self.spilled = tempfile.TemporaryFile(prefix="octopus-pack-")  # noqa: SIM115 - closed in finish()
        self._open_entry: tuple[_Record, bool] | None = None  # large entry being written, and whether Zip64

    # Planning: split entries into units of work, each with what a worker needs to run it.

    def plan(self, entries: Iterable[ArchiveEntry]) -> Iterator[tuple[_Unit, tuple]]:
        batch: list[ArchiveEntry] = []
        batch_bytes = 0
        for entry in entries:
            if entry.path is not None and entry.size > BLOCK_SIZE:
                if batch:
                    yield self._batch_unit(batch)
                    batch, batch_bytes = [], 0
                yield from self._block_units(entry)
                continue
            batch.append(entry)
            batch_bytes += entry.size
            if batch_bytes >= BATCH_BYTES or len(batch) >= BATCH_FILES:
                yield self._batch_unit(batch)
                batch, batch_bytes = [], 0
        if batch:
            yield self._batch_unit(batch)

    @staticmethod
    def _batch_unit(batch: list[ArchiveEntry]) -> tuple[_Unit, tuple]:
        return _Unit(batch), ("batch", [(entry.path, entry.data, entry.size) for entry in batch])

    def _block_units(self, entry: ArchiveEntry) -> Iterator[tuple[_Unit, tuple]]:
        deflate = self.deflater is not None and _worth_deflating(entry, self.deflater)
        blocks = -(-entry.size // BLOCK_SIZE)
        for block in range(blocks):
            yield _Unit([entry], block, blocks), ("block", entry.path, entry.size, block, blocks, deflate)

    # Writing: results come back in the order planned.

    def consume(self, unit: _Unit, result: CompressedBatch | Compressed) -> None:
        if unit.block is None:
            self._write_batch(unit.entries, cast(CompressedBatch, result))
            self._hash_final_bytes()
            self.on_progress(len(unit.entries), sum(entry.size for entry in unit.entries))
            return
        entry = unit.entries[0]
        crc, raw_size, method, payload = cast(Compressed, result)
        if unit.block == 0:  # sizes and CRC go into the local header at the end (_end_large)
            self._open_entry = (self._record(entry, method), entry.size * 1.01 + BLOCK_SIZE >= _ZIP64_LIMIT)
            self._write(self._local_header(*self._open_entry))
        assert self._open_entry is not None  # opened with block 0
        record, zip64 = self._open_entry
        record.crc = crc32_combine(record.crc, crc, raw_size) if unit.block else crc
        record.size += raw_size
        record.compressed += len(payload)
        self._write(payload)
        if unit.block == unit.blocks - 1:
            self._end_large(record, zip64)
            self._hash_final_bytes()
        self.on_progress(1 if unit.block == unit.blocks - 1 else 0, raw_size)

    def _write_batch(self, entries: list[ArchiveEntry], result: CompressedBatch) -> None:
        """A batch's headers and data in one write. The writer is the one process that cannot run in parallel,
        so the loop per small file is kept to what each needs: pack two headers, slice the data."""
        sizes, payloads = result
        view, start = memoryview(payloads), 0
        pieces: list[bytes | memoryview] = []
        offset = self.offset
        for entry, (crc, size, method, length) in zip(entries, sizes, strict=True):
            record = self._record(entry, method)
            record.crc, record.size, record.compressed, record.offset = crc, size, length, offset
            header = self._local_header(record, zip64=False)
            pieces += (header, view[start:start + length])
            start += length
            offset += len(header) + length
            self.directory += _central_header(record)
            self.stats.raw_bytes += size
            self.stats.stored_entries += method == _STORED
        self.stats.entries += len(entries)
        self.out.writelines(pieces)
        self.offset = offset
        self._spill_directory()

    def _end_large(self, record: _Record, zip64: bool) -> None:
        """Sizes and CRC are known only now: patch them into the local header written earlier, then hash it all."""
        if not zip64 and max(record.size, record.compressed) >= _ZIP64_LIMIT:
            raise PipeError(f"'{record.name.decode()}' grew past 4 GiB while it was being packed: "
                            "make sure nothing writes to SOURCE_PATH during packing.")
        self.out.flush()
        fd = self.out.fileno()
        if zip64:
            os.pwrite(fd, struct.pack("<I", record.crc), record.offset + 14)
            os.pwrite(fd, struct.pack("<QQ", record.size, record.compressed), record.offset + 34 + len(record.name))
        else:
            os.pwrite(fd, struct.pack("<III", record.crc, record.compressed, record.size), record.offset + 14)
        self._open_entry = None
        self.directory += _central_header(record)
        self._spill_directory()
        self.stats.entries += 1
        self.stats.raw_bytes += record.size
        self.stats.stored_entries += record.method == _STORED

    def _hash_final_bytes(self, everything: bool = False) -> None:
        """Hash what is final (a large entry's header changes after its data), read back from the page cache a
        MiB at a time: hashing each small write as it goes costs more than reading it back."""
        if self._open_entry is not None or (self.offset - self.hashed < _READ_BACK and not everything):
            return
        self.out.flush()
        view = self.read_back
        while self.hashed < self.offset:
            count = os.preadv(self.out.fileno(), [view[: min(_READ_BACK, self.offset - self.hashed)]], self.hashed)
            if not count:
                raise OSError(f"the package ended at {self.hashed} bytes, expected {self.offset}")
            self.sha256.update(view[:count])
            self.sha1.update(view[:count])
            self.hashed += count

    def _record(self, entry: ArchiveEntry, method: int) -> _Record:
        """A new entry's record: its name as stored, flagged UTF-8 when not ASCII, and its DOS time."""
        try:
            name = entry.name.encode("utf-8")
        except UnicodeEncodeError:
            raise PipeError(f"The file name '{entry.name.encode('utf-8', 'backslashreplace').decode()}' is not "
                            "valid UTF-8, so a zip cannot hold it: rename the file or EXCLUDE it.") from None
        if len(name) > 0xFFFF:
            raise PipeError(f"The path '{entry.name[:80]}...' is longer than a zip entry name can be (65,535 "
                            "bytes): shorten it or EXCLUDE it.")
        flags = 0 if len(name) == len(entry.name) else _UTF8_FLAG
        if self.fixed_time is not None:
            dos_time, dos_date = _dos_datetime(self.fixed_time, utc=True)
        else:
            dos_time, dos_date = _dos_datetime(entry.mtime, utc=False)
        return _Record(name, flags, method, dos_time, dos_date, crc=0, compressed=0, size=0,
                       mode=entry.mode, offset=self.offset)

    @staticmethod
    def _local_header(record: _Record, zip64: bool) -> bytes:
        needed = 45 if zip64 else (20 if record.method == _DEFLATED else 10)
        if zip64:
            extra = struct.pack("<HHQQ", 1, 16, record.size, record.compressed)
            sizes = (_MARKER, _MARKER)
        else:
            extra, sizes = b"", (record.compressed, record.size)
        return _LOCAL.pack(0x04034B50, needed, record.flags, record.method, record.dos_time, record.dos_date,
                           record.crc, *sizes, len(record.name), len(extra)) + record.name + extra

    def _spill_directory(self) -> None:
        if len(self.directory) >= _DIRECTORY_BUFFER:
            self.spilled.write(self.directory)
            self.directory.clear()

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        self.out.write(data)
        self.offset += len(data)

    def finish(self) -> None:
        """Write the central directory, with Zip64 records when sizes, offsets or counts overflow."""
        directory_offset = self.offset
        self.spilled.seek(0)
        while chunk := self.spilled.read(_READ_BACK):
            self._write(chunk)
        self.spilled.close()
        self._write(self.directory)
        directory_size = self.offset - directory_offset
        count = self.stats.entries
        zip64 = count >= 0xFFFF or directory_offset >= _ZIP64_LIMIT or directory_size >= _ZIP64_LIMIT
        if zip64:
            zip64_end_offset = self.offset
            self._write(_ZIP64_END.pack(0x06064B50, 44, 0x032D, 45, 0, 0, count, count, directory_size,
                                        directory_offset))
            self._write(_ZIP64_LOCATOR.pack(0x07064B50, 0, zip64_end_offset, 1))
        entries = 0xFFFF if zip64 else count
        self._write(_END.pack(0x06054B50, 0, 0, entries, entries, _MARKER if zip64 else directory_size,
                              _MARKER if zip64 else directory_offset, 0))
        self._hash_final_bytes(everything=True)
        self.stats.size = self.offset
        self.stats.sha256, self.stats.sha1 = self.sha256.hexdigest(), self.sha1.hexdigest()


def _central_header(record: _Record) -> bytes:
    external = (stat.S_IFREG | record.mode) << 16
    if max(record.size, record.compressed, record.offset) < _ZIP64_LIMIT:  # nearly always: no extra field
        version = 20 if record.method == _DEFLATED else 10
        return _CENTRAL.pack(0x02014B50, 0x0300 | version, version, record.flags, record.method, record.dos_time,
                             record.dos_date, record.crc, record.compressed, record.size, len(record.name), 0, 0, 0,
                             0, external, record.offset) + record.name
    overflowing = [value for value in (record.size, record.compressed, record.offset) if value >= _ZIP64_LIMIT]
    extra = struct.pack(f"<HH{len(overflowing)}Q", 1, 8 * len(overflowing), *overflowing)
    return _CENTRAL.pack(0x02014B50, 0x0300 | 45, 45, record.flags, record.method, record.dos_time, record.dos_date,
                         record.crc, _fits(record.compressed), _fits(record.size), len(record.name), len(extra), 0, 0,
                         0, external, _fits(record.offset)) + record.name + extra


def _fits(value: int) -> int:
    return value if value < _ZIP64_LIMIT else _MARKER


@functools.lru_cache(maxsize=4096)  # trees often share a few times (npm sets one for all its files)
def _dos_datetime(timestamp: float, utc: bool) -> tuple[int, int]:
    """DOS (time, date) of a timestamp, clamped to what the format can hold, as octo clamped it."""
    try:
        parts = tuple((time.gmtime if utc else time.localtime)(timestamp))[:6]
    except (OverflowError, OSError, ValueError):
        parts = _DOS_MIN if timestamp < 0 else _DOS_MAX
    parts = max(_DOS_MIN, min(parts, _DOS_MAX))
    year, month, day, hour, minute, second = parts
    return hour << 11 | minute << 5 | second // 2, (year - 1980) << 9 | month << 5 | day


# Worker side: runs in the worker processes (or in this one, with one worker).

_deflater: Deflater | None = None  # set in each worker when it starts
_compress_whole: WholeCompressor | None = None


def _set_deflater(deflater: Deflater | None) -> None:
    global _deflater, _compress_whole
    _deflater, _compress_whole = deflater, deflater.one_shot() if deflater else None


def _run_unit(work: tuple) -> CompressedBatch | Compressed:
    """A batch's entries (CompressedBatch), or one block of a large entry as (CRC, size, method, payload)."""
    if work[0] == "batch":
        results = [_compress_small(path, data, size, _compress_whole) for path, data, size in work[1]]
        return [(crc, size, method, len(payload)) for crc, size, method, payload in results], \
            b"".join(payload for _, _, _, payload in results)
    _, path, size, block, blocks, deflate = work
    return _compress_block(path, size, block, blocks, _deflater if deflate else None)

def _compress_small(path: str | None, data: bytes | None, size: int, compress: WholeCompressor | None) -> Compressed:
    """A whole entry (a file's path, or generated data): deflated, or stored when deflating does not shrink it."""
    if data is None:
        assert path is not None  # an entry is a file on disk or generated content
        data = _read_whole(path, size)
    crc = crc32(data)
    if compress and data:
        packed = compress(data)
        if len(packed) < len(data):
            return crc, len(data), _DEFLATED, packed
    return crc, len(data), _STORED, data


def _compress_block(path: str, size: int, block: int, blocks: int, deflater: Deflater | None) -> Compressed:
    """One block of a large entry; the writer joins the blocks' deflate streams and CRCs."""
    start = block * BLOCK_SIZE
    length = min(BLOCK_SIZE, size - start)
    history = min(WINDOW, start) if deflater else 0
    buffer = _read_at(path, start - history, history + length)
    if len(buffer) != history + length:
        raise PipeError(f"'{path}' changed size while it was being packed: make sure nothing writes to "
                        "SOURCE_PATH during packing.")
    if deflater is None:
        return crc32(buffer), length, _STORED, buffer
    view = memoryview(buffer)
    data = view[history:]
    return crc32(data), length, _DEFLATED, deflater.compress_block(data, bytes(view[:history]), block == blocks - 1)


def _worth_deflating(entry: ArchiveEntry, deflater: Deflater) -> bool:
    """Deflate a large file only if samples from its start and middle shrink: random data is stored."""
    assert entry.path is not None
    sample = _read_at(entry.path, 0, _PROBE_BYTES) + _read_at(entry.path, entry.size // 2, _PROBE_BYTES)
    return len(deflater.compress_whole(sample)) <= _INCOMPRESSIBLE * len(sample)


def _read_whole(path: str, size: int) -> bytes:
    """The whole file; one read when it still has the size it had at selection (asking one byte more finds EOF)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.read(fd, size + 1)
            if len(data) > size:  # it grew since selection: the rest too
                data += b"".join(iter(lambda: os.read(fd, 1 << 20), b""))
            return data
        finally:
            os.close(fd)
    except OSError as error:
        raise PipeError(f"Cannot read '{path}': {error.strerror}. Check that it exists and is readable.") from error


def _read_at(path: str, offset: int, length: int) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as error:
        raise PipeError(f"Cannot read '{path}': {error.strerror}. Check that it exists and is readable.") from error
    try:
        chunks = []
        while length > 0:
            chunk = os.pread(fd, length, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            length -= len(chunk)
        return b"".join(chunks) if len(chunks) != 1 else chunks[0]
    finally:
        os.close(fd)
