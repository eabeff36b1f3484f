"""The fake server's own Octodiff: signatures and delta application, written from octodiff.md alone.

A test double must not judge the pipe's output with the pipe's code, so nothing here imports octopus_pack:
if the pipe's delta builder and this applier disagree about the format, the push test fails.
Only what a server does is here: sign a stored file (SHA1 + Adler32 V1, 2048-byte chunks, the library
defaults Octopus uses) and rebuild a new file from a basis and a delta, checking the delta's SHA-1.
"""

from __future__ import annotations

import hashlib
import struct
from typing import BinaryIO

CHUNK_SIZE = 2048
SIGNATURE_HEADER = b"OCTOSIG\x01" + b"\x04SHA1" + b"\x07Adler32" + b">>>"
DELTA_MAGIC = b"OCTODELTA\x01"
COPY, DATA = 0x60, 0x80
BLOCK = 1 << 20


class DeltaError(ValueError):
    """The delta is malformed, or rebuilding it does not give the file it claims."""


def adler32_v1(data: bytes) -> int:
    """Octodiff's "Adler32": both sums truncated to 16 bits, not zlib's modulus 65521."""
    a, b = 1, 0
    for byte in data:
        a = (a + byte) & 0xFFFF
        b = (b + a) & 0xFFFF
    return (b << 16) | a


def signature(basis: BinaryIO) -> bytes:
    """OCTOSIG of a file: per 2048-byte chunk its length (Int16), rolling checksum (UInt32) and SHA-1."""
    out = bytearray(SIGNATURE_HEADER)
    while chunk := basis.read(CHUNK_SIZE):
        out += struct.pack("<hI", len(chunk), adler32_v1(chunk)) + hashlib.sha1(chunk).digest()
    return bytes(out)


def apply_delta(basis: BinaryIO, delta: BinaryIO, out: BinaryIO) -> None:
    """Write the new file a delta describes; DeltaError for a bad header, command or final hash."""
    if _exactly(delta, len(DELTA_MAGIC)) != DELTA_MAGIC:
        raise DeltaError("not an OCTODELTA version 1 file")
    name = _exactly(delta, _exactly(delta, 1)[0])
    (hash_length,) = struct.unpack("<i", _exactly(delta, 4))
    if name != b"SHA1" or hash_length != 20:
        raise DeltaError(f"unsupported hash {name!r} of {hash_length} bytes")
    expected = _exactly(delta, 20)
    if _exactly(delta, 3) != b">>>":
        raise DeltaError("the delta header does not end with >>>")
    digest = hashlib.sha1()
    while command := delta.read(1):
        if command[0] == COPY:
            start, length = struct.unpack("<qq", _exactly(delta, 16))
            basis.seek(start)
            _pump(basis, length, out, digest, "a COPY reaches past the end of the basis file")
        elif command[0] == DATA:
            (length,) = struct.unpack("<q", _exactly(delta, 8))
            _pump(delta, length, out, digest, "a DATA command is cut short")
        else:
            raise DeltaError(f"unknown command byte 0x{command[0]:02x}")
    if digest.digest() != expected:
        raise DeltaError("the rebuilt file's SHA-1 differs from the one the delta names")


def _exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise DeltaError("the delta ends early")
    return data


def _pump(source: BinaryIO, length: int, out: BinaryIO, digest: hashlib._Hash, problem: str) -> None:
    if length < 0:
        raise DeltaError("a command has a negative length")
    while length:
        block = source.read(min(length, BLOCK))
        if not block:
            raise DeltaError(problem)
        out.write(block)
        digest.update(block)
        length -= len(block)
