"""The server's half of Octodiff, for tests and benchmarks: writing signatures and applying deltas.

The pipe only reads a signature and builds a delta (pipe/octopus_pack/octodiff); what an Octopus server
does with them lives here so it is not shipped in the image. These tools are fast (numpy checksums) and
strict (bad deltas raise), and share the pipe's format module. The fake server does not use them: it
judges the pipe's deltas with its own, independently written fake_octopus/octodiff_reference.py.
"""

import hashlib
import os
import zlib
from collections.abc import Callable
from io import BufferedIOBase
from itertools import accumulate
from typing import BinaryIO, NamedTuple

import numpy as np

from octopus_pack.octodiff.checksums import V1, V1_MASK, V2, V2_MODULUS
from octopus_pack.octodiff.formats import (
    CHUNK_RECORD,
    COPY_COMMAND,
    COPY_FIELDS,
    COPY_PIECE_SIZE,
    DATA_COMMAND,
    DATA_LENGTH,
    DELTA_MAGIC,
    END_OF_METADATA,
    FORMAT_VERSION,
    HASH_ALGORITHM,
    HASH_LENGTH,
    HASH_LENGTH_FIELD,
    ROLLING_ALGORITHMS,
    SIGNATURE_MAGIC,
    OctodiffError,
    Signature,
    check_algorithms,
    check_version,
    decode_name,
    encode_name,
)

MIN_CHUNK_SIZE = 128
DEFAULT_CHUNK_SIZE = 2048
MAX_CHUNK_SIZE = 31 * 1024
# Basis bytes read per step when signing; rounded down to whole chunks.
SIGNATURE_READ_SIZE = 1 << 20

# --------------------------------------------------------------------------- scalar rolling checksums


def adler32_v1(data: bytes | memoryview) -> int:
    """Octodiff's "Adler32": Adler-32 without the 65521 modulus, both halves truncated to 16 bits."""
    a = (1 + sum(data)) & V1_MASK
    b = (len(data) + sum(accumulate(data))) & V1_MASK
    return b << 16 | a


def rotate_adler32_v1(checksum: int, remove: int, add: int, window: int) -> int:
    """Slide a V1 window right by one byte: remove leaves on the left, add enters on the right."""
    a = (checksum - remove + add) & V1_MASK
    b = ((checksum >> 16) - window * remove + a - 1) & V1_MASK
    return b << 16 | a


def adler32_v2(data: bytes | memoryview) -> int:
    """Octodiff's "Adler32V2", which is standard Adler-32."""
    return zlib.adler32(data)


def rotate_adler32_v2(checksum: int, remove: int, add: int, window: int) -> int:
    """Slide a V2 window right by one byte, with a true modulus (Octodiff's C# gets negative values wrong)."""
    a = ((checksum & 0xFFFF) - remove + add) % V2_MODULUS
    b = ((checksum >> 16) - window * remove + a - 1) % V2_MODULUS
    return b << 16 | a


CALCULATE: dict[str, Callable[[bytes | memoryview], int]] = {V1: adler32_v1, V2: adler32_v2}
ROTATE: dict[str, Callable[[int, int, int, int], int]] = {V1: rotate_adler32_v1, V2: rotate_adler32_v2}


def chunk_checksums(chunks: np.ndarray, algorithm: str) -> np.ndarray:
    """Checksums (uint32) of the rows of a (count, length) uint8 array: one row per basis chunk."""
    if algorithm == V2:
        return np.fromiter((zlib.adler32(row) for row in chunks), dtype=np.uint32, count=len(chunks))
    length = chunks.shape[1]
    # Everything is wanted mod 2**16, so wrapping uint32 sums and dot products are exact enough.
    weights = np.arange(length, 0, -1, dtype=np.uint32)
    a = chunks.sum(axis=1, dtype=np.uint32) + np.uint32(1)
    b = chunks @ weights + np.uint32(length)
    return ((b & np.uint32(V1_MASK)) << np.uint32(16)) | (a & np.uint32(V1_MASK))


# --------------------------------------------------------------------------- signatures


class ChunkSignature(NamedTuple):
    """One basis chunk as a signature describes it; the offset is implied by the lengths before it."""

    start_offset: int
    length: int
    rolling_checksum: int
    hash: bytes


def chunks_of(signature: Signature) -> tuple[ChunkSignature, ...]:
    """The signature's chunk records with their implied start offsets, in basis order."""
    records = list(CHUNK_RECORD.iter_unpack(signature.chunk_table))
    ends = accumulate(length for length, _, _ in records)
    return tuple(
        ChunkSignature(end - length, length, checksum, digest)
        for end, (length, checksum, digest) in zip(ends, records, strict=True)
    )


def signature_header(hash_algorithm: str, rolling_algorithm: str) -> bytes:
    """Everything an OCTOSIG file holds before its chunk records."""
    return (
        SIGNATURE_MAGIC
        + bytes([FORMAT_VERSION])
        + encode_name(hash_algorithm)
        + encode_name(rolling_algorithm)
        + END_OF_METADATA
    )


def signature_file(signature: Signature) -> bytes:
    """The OCTOSIG file a signature was read from (or would be written as)."""
    return signature_header(signature.hash_algorithm, signature.rolling_algorithm) + signature.chunk_table


def build_signature(basis: BufferedIOBase, chunk_size: int = DEFAULT_CHUNK_SIZE, rolling: str = V1) -> bytes:
    """The OCTOSIG file for the basis stream, read from its current position to the end."""
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise OctodiffError(f"chunk size {chunk_size} is outside Octodiff's {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE}")
    if rolling not in ROLLING_ALGORITHMS:
        raise OctodiffError(f"rolling checksum {rolling!r} is not one of {', '.join(ROLLING_ALGORITHMS)}")
    signature = bytearray(signature_header(HASH_ALGORITHM, rolling))
    read_size = SIGNATURE_READ_SIZE - SIGNATURE_READ_SIZE % chunk_size
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


# --------------------------------------------------------------------------- applying deltas


def read_exactly(stream: BinaryIO, count: int, what: str) -> bytes:
    """Read count bytes or explain which field the stream ended in."""
    data = stream.read(count)
    if data is None or len(data) != count:
        raise OctodiffError(f"delta is truncated: it ends inside {what}")
    return data


def read_delta_header(delta: BinaryIO) -> bytes:
    """Validate an OCTODELTA header and return the expected SHA1 of the file the delta rebuilds."""
    if read_exactly(delta, len(DELTA_MAGIC), "the header") != DELTA_MAGIC:
        raise OctodiffError("delta does not start with 'OCTODELTA'; it is not an Octodiff delta")
    check_version(read_exactly(delta, 1, "the format version")[0], "delta")
    hash_algorithm = decode_name(
        lambda count: read_exactly(delta, count, "the hash algorithm name"), "hash algorithm name", "delta"
    )
    check_algorithms(hash_algorithm, None, "delta")
    (hash_length,) = HASH_LENGTH_FIELD.unpack(read_exactly(delta, HASH_LENGTH_FIELD.size, "the hash length"))
    if hash_length != HASH_LENGTH:
        raise OctodiffError(f"delta declares a {hash_length}-byte {HASH_ALGORITHM} hash; {HASH_LENGTH} expected")
    expected_hash = read_exactly(delta, hash_length, "the expected hash")
    if read_exactly(delta, len(END_OF_METADATA), "the end-of-metadata marker") != END_OF_METADATA:
        raise OctodiffError("delta has no '>>>' after its header")
    return expected_hash


def apply_delta(basis: BinaryIO, delta: BinaryIO, out: BinaryIO) -> None:
    """Rebuild the new file into out from a seekable basis, and check it against the delta's SHA1.

    Unlike Octodiff's C# reader, unknown command bytes, negative lengths, truncated payloads and COPYs past
    the end of the basis are errors. out receives the bytes as they are rebuilt, so on error it holds a
    partial file that the caller should discard.
    """
    expected_hash = read_delta_header(delta)
    basis_size = basis.seek(0, os.SEEK_END)
    digest = hashlib.sha1()
    command_number = 0
    while command := delta.read(1):
        command_number += 1
        if command[0] == COPY_COMMAND:
            start, length = COPY_FIELDS.unpack(read_exactly(delta, COPY_FIELDS.size, "a COPY command"))
            if start < 0 or length < 0:
                raise OctodiffError(f"delta command {command_number}: COPY of {length} bytes at {start} is negative")
            if start + length > basis_size:
                raise OctodiffError(
                    f"delta command {command_number}: COPY of {length} bytes at {start} goes past the end of "
                    f"the {basis_size}-byte basis; the delta was built against a different file"
                )
            basis.seek(start)
            _copy(basis, out, digest, length, "the basis", command_number)
        elif command[0] == DATA_COMMAND:
            (length,) = DATA_LENGTH.unpack(read_exactly(delta, DATA_LENGTH.size, "a DATA command"))
            if length < 0:
                raise OctodiffError(f"delta command {command_number}: DATA length {length} is negative")
            _copy(delta, out, digest, length, "a DATA payload", command_number)
        else:
            raise OctodiffError(f"delta command {command_number}: unknown command byte 0x{command[0]:02x}")
    if digest.digest() != expected_hash:
        raise OctodiffError(
            f"rebuilt file has SHA1 {digest.hexdigest()} but the delta expects {expected_hash.hex()}: "
            "the delta does not belong to this basis"
        )


def _copy(source: BinaryIO, out: BinaryIO, digest, length: int, what: str, command_number: int) -> None:
    remaining = length
    while remaining:
        piece = source.read(min(remaining, COPY_PIECE_SIZE))
        if not piece:
            raise OctodiffError(
                f"delta command {command_number}: {what} ended {remaining} bytes short of the {length} expected"
            )
        out.write(piece)
        digest.update(piece)
        remaining -= len(piece)
