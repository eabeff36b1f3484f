"""Building an OCTOSIG for a basis file, as an Octopus server does for the package it already holds."""

import hashlib
from io import BufferedIOBase

import numpy as np

from .checksums import chunk_checksums
from .formats import CHUNK_RECORD, HASH_ALGORITHM, ROLLING_ALGORITHMS, OctodiffError, signature_header

MIN_CHUNK_SIZE = 128
DEFAULT_CHUNK_SIZE = 2048
MAX_CHUNK_SIZE = 31 * 1024
# Basis bytes read per step; rounded down to whole chunks.
READ_SIZE = 1 << 20


def build_signature(basis: BufferedIOBase, chunk_size: int = DEFAULT_CHUNK_SIZE, rolling: str = "Adler32") -> bytes:
    """The OCTOSIG file for the basis stream, read from its current position to the end."""
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise OctodiffError(f"chunk size {chunk_size} is outside Octodiff's {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}")
    if rolling not in ROLLING_ALGORITHMS:
        raise OctodiffError(f"rolling checksum {rolling!r} is not one of {', '.join(ROLLING_ALGORITHMS)}")
    signature = bytearray(signature_header(HASH_ALGORITHM, rolling))
    read_size = READ_SIZE - READ_SIZE % chunk_size
    buffer = bytearray(read_size)
    view = memoryview(buffer)
    sha1 = hashlib.sha1
    while filled := _fill(basis, view):
        whole = filled - filled % chunk_size
        lengths = [chunk_size] * (whole // chunk_size)
        checksums: list[int] = []
        if whole:
            rows = np.frombuffer(buffer, dtype=np.uint8, count=whole).reshape(-1, chunk_size)
            checksums = chunk_checksums(rows, rolling).tolist()
        if filled > whole:  # the basis's last, shorter chunk
            tail = np.frombuffer(buffer, dtype=np.uint8, count=filled - whole, offset=whole)
            lengths.append(filled - whole)
            checksums.append(int(chunk_checksums(tail.reshape(1, -1), rolling)[0]))
        for start, length, checksum in zip(range(0, filled, chunk_size), lengths, checksums, strict=True):
            signature += CHUNK_RECORD.pack(length, checksum, sha1(view[start : start + length]).digest())
        if filled < read_size:
            break
    return bytes(signature)


def _fill(stream: BufferedIOBase, view: memoryview) -> int:
    """Read until view is full or the stream ends, so chunk boundaries never depend on short reads."""
    filled = 0
    while filled < len(view):
        read = stream.readinto(view[filled:])
        if not read:
            break
        filled += read
    return filled
