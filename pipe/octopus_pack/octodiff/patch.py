"""Applying an OCTODELTA to its basis, strictly: bad input raises instead of looping or writing garbage."""

import hashlib
import os
from typing import BinaryIO

from .formats import (
    COPY_COMMAND,
    COPY_FIELDS,
    COPY_PIECE_SIZE,
    DATA_COMMAND,
    DATA_LENGTH,
    OctodiffError,
    read_delta_header,
    read_exactly,
)


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
