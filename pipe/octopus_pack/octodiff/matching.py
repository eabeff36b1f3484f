"""Finding windows of the new file that equal a basis chunk: the signature as arrays, and a vectorised search.

Octodiff tests a window by its rolling checksum first and SHA1 second, trying chunks with that checksum in
basis order. Everything here keeps exactly that outcome; it only avoids doing it one byte at a time.
"""

from array import array
from concurrent.futures import Executor

import numpy as np

from .checksums import WindowKeys
from .formats import CHUNK_RECORD, HASH_LENGTH, Signature

RECORD_DTYPE = np.dtype([("length", "<i2"), ("checksum", "<u4"), ("hash", f"V{HASH_LENGTH}")])
HASH_START = CHUNK_RECORD.size - HASH_LENGTH
_PREFIX_DTYPE = np.dtype([("head", f"V{HASH_START}"), ("prefix", "<u8"), ("rest", f"V{HASH_LENGTH - 8}")])
# Most windows checked by one vectorised pass. Its working arrays (about 30 bytes a window) should stay
# in the CPU cache, yet each pass costs some 20 numpy calls of fixed overhead.
SCAN_BLOCK_SIZE = 1 << 17

_MULTIPLIER_A = np.uint32(0x9E3779B1)
_MULTIPLIER_B = np.uint32(0x85EBCA77)


class ChunkTable:
    """The signature's chunk records as arrays, plus the COPY Octodiff would write for each chunk."""

    def __init__(self, signature: Signature) -> None:
        self.records = np.frombuffer(signature.chunk_table, dtype=RECORD_DTYPE)
        self.table = signature.chunk_table
        lengths = self.records["length"].astype(np.int64)
        offsets = np.cumsum(lengths) - lengths
        # Compact arrays whose items come out as Python ints: the search reads them once per chunk.
        self.lengths = array("h", self.records["length"].astype(np.int16).tobytes())
        self.copy_offsets = array("q", offsets[self._first_with_same_hash()].tobytes())

    def _first_with_same_hash(self) -> np.ndarray:
        """For each chunk, the index of the first chunk with the same hash (equal content).

        Octodiff copies from that one. Sorting 8-byte hash prefixes is fast; the rare equal prefixes are
        then settled on the full hash.
        """
        first = np.arange(len(self.records))
        prefixes = np.frombuffer(self.table, dtype=_PREFIX_DTYPE)["prefix"]
        order = np.argsort(prefixes, kind="stable")
        sorted_prefixes = prefixes[order]
        repeats = np.flatnonzero(sorted_prefixes[1:] == sorted_prefixes[:-1])
        if len(repeats):
            group_members = np.unique(np.concatenate([repeats, repeats + 1]))
            earliest: dict[bytes, int] = {}
            for index in sorted(order[group_members].tolist()):
                first[index] = earliest.setdefault(self.hash_of(index), index)
        return first

    def hash_of(self, index: int) -> bytes:
        start = index * CHUNK_RECORD.size + HASH_START
        return self.table[start : start + HASH_LENGTH]


class _KeyFilter:
    """Which of many window keys are in a signature's key set, in a few vectorised steps.

    Two boolean tables indexed by different multiplicative hashes let through about one key in
    fill-ratio squared (under 1 in 500 at 32 slots a key); a binary search settles the rest. The tables are
    at most 4 MiB, so lookups mostly hit the CPU cache.
    """

    def __init__(self, unique_keys: np.ndarray) -> None:
        self.unique_keys = unique_keys
        slot_bits = max(10, min(22, len(unique_keys).bit_length() + 5))
        self._shift = np.uint32(32 - slot_bits)
        self._first = np.zeros(1 << slot_bits, dtype=np.bool_)
        self._second = np.zeros(1 << slot_bits, dtype=np.bool_)
        self._first[(unique_keys * _MULTIPLIER_A) >> self._shift] = True
        self._second[(unique_keys * _MULTIPLIER_B) >> self._shift] = True

    def members(self, keys: np.ndarray, slots: np.ndarray, passed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indexes i with keys[i] in the set, ascending; the position of each such key in unique_keys).

        slots and passed are scratch arrays at least as long as keys.
        """
        count = len(keys)
        slots = slots[:count]
        passed = passed[:count]
        np.multiply(keys, _MULTIPLIER_A, out=slots)
        np.right_shift(slots, self._shift, out=slots)
        self._first.take(slots, out=passed, mode="wrap")
        (indexes,) = passed.nonzero()
        if len(indexes):
            indexes = indexes[self._second[(keys[indexes] * _MULTIPLIER_B) >> self._shift]]
        if not len(indexes):
            return indexes, indexes
        survivors = keys[indexes]
        found = np.searchsorted(self.unique_keys, survivors)
        found[found == len(self.unique_keys)] = 0
        hit = self.unique_keys[found] == survivors
        return indexes[hit], found[hit]


class _BlockScanner:
    """Scratch space for one thread's vectorised passes."""

    def __init__(self, algorithm: str, window: int) -> None:
        self.window_keys = WindowKeys(algorithm, window, SCAN_BLOCK_SIZE)
        self.slots = np.empty(SCAN_BLOCK_SIZE, dtype=np.uint32)
        self.passed = np.empty(SCAN_BLOCK_SIZE, dtype=np.bool_)

    def scan(self, data: np.ndarray, start: int, stop: int, key_filter: _KeyFilter) -> tuple[array, array]:
        positions: list[np.ndarray] = []
        key_ids: list[np.ndarray] = []
        for block_start in range(start, stop, SCAN_BLOCK_SIZE):
            count = min(SCAN_BLOCK_SIZE, stop - block_start)
            keys = self.window_keys.compute(data, block_start, count)
            indexes, found = key_filter.members(keys, self.slots, self.passed)
            if len(indexes):
                positions.append(indexes + block_start)
                key_ids.append(found)
        return _compact(positions), _compact(key_ids)


def _compact(parts: list[np.ndarray]) -> array:
    """Integers as an array("q"): 8 bytes each (a list of ints takes 36), still indexable and bisectable."""
    if not parts:
        return array("q")
    return array("q", np.concatenate(parts).astype(np.int64).tobytes())


class WindowMatcher:
    """Matching windows of one length (the signature's longest or shortest chunk) against the chunks."""

    def __init__(self, chunks: ChunkTable, algorithm: str, window: int, workers: Executor | None = None) -> None:
        self.chunks = chunks
        self.window = window
        (indexes,) = np.nonzero(chunks.records["length"] == window)
        scanner = _BlockScanner(algorithm, window)
        keys = scanner.window_keys.keys_for_checksums(chunks.records["checksum"][indexes])
        # Chunks in (key, basis offset) order, and where each distinct key's run starts.
        by_key = np.argsort(keys, kind="stable")
        self._chunk_order = indexes[by_key]
        sorted_keys = keys[by_key]
        unique_keys = sorted_keys[np.flatnonzero(np.diff(sorted_keys, prepend=~sorted_keys[:1]))]
        self._run_starts = np.append(np.searchsorted(sorted_keys, unique_keys), len(sorted_keys))
        self._key_filter = _KeyFilter(unique_keys)
        self._scanners = [scanner]
        self._workers = workers
        if workers is not None:
            self._scanners.append(_BlockScanner(algorithm, window))

    def candidates(self, data: np.ndarray, start: int, stop: int) -> tuple[array, array]:
        """Window starts in [start, stop) whose rolling checksum some chunk of this length has, ascending,
        each with an id for confirm()."""
        own, other = self._scanners[0], self._scanners[-1]
        if self._workers is None or stop - start < 4 * SCAN_BLOCK_SIZE:
            return own.scan(data, start, stop, self._key_filter)
        # Split at a block boundary; numpy releases the GIL, so a worker thread scans beside this one.
        middle = start + (stop - start) // (2 * SCAN_BLOCK_SIZE) * SCAN_BLOCK_SIZE
        later = self._workers.submit(other.scan, data, middle, stop, self._key_filter)
        positions, key_ids = own.scan(data, start, middle, self._key_filter)
        later_positions, later_key_ids = later.result()
        return positions + later_positions, key_ids + later_key_ids

    def confirm(self, digest: bytes, key_id: int) -> int:
        """The first chunk in basis order with this window's checksum and SHA1, or -1."""
        hash_of = self.chunks.hash_of
        for index in self._chunk_order[self._run_starts[key_id] : self._run_starts[key_id + 1]].tolist():
            if hash_of(index) == digest:
                return index
        return -1
