"""The OCTOSIG and OCTODELTA byte layouts the push needs: reading a signature and writing a delta."""

import hashlib
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

SIGNATURE_MAGIC = b"OCTOSIG"
DELTA_MAGIC = b"OCTODELTA"
FORMAT_VERSION = 1
END_OF_METADATA = b">>>"
COPY_COMMAND = 0x60
DATA_COMMAND = 0x80

HASH_ALGORITHM = "SHA1"
HASH_LENGTH = hashlib.sha1().digest_size
ROLLING_ALGORITHMS = ("Adler32", "Adler32V2")

# One signature record: Int16 chunk length, UInt32 rolling checksum, SHA1 of the chunk.
CHUNK_RECORD = struct.Struct(f"<hI{HASH_LENGTH}s")
_CHUNK_LENGTH = struct.Struct(f"<h{CHUNK_RECORD.size - 2}x")
COPY_FIELDS = struct.Struct("<qq")
DATA_LENGTH = struct.Struct("<q")
HASH_LENGTH_FIELD = struct.Struct("<i")

# Names in real files are a few bytes; a cap keeps a corrupt length prefix from asking for gigabytes.
MAX_NAME_LENGTH = 255
# DATA payloads are copied through this much memory at a time.
COPY_PIECE_SIZE = 1 << 20


class OctodiffError(ValueError):
    """A signature or delta that is malformed or uses something Octodiff-compatible tools do not support."""


@dataclass(frozen=True)
class Signature:
    """A parsed OCTOSIG file. The chunk table stays in its stored form so large signatures load fast."""

    hash_algorithm: str
    rolling_algorithm: str
    chunk_table: bytes = field(repr=False)

    def __post_init__(self) -> None:
        """Every Signature is usable: supported algorithms, whole records, positive chunk lengths."""
        check_algorithms(self.hash_algorithm, self.rolling_algorithm, "signature")
        if len(self.chunk_table) % CHUNK_RECORD.size:
            raise OctodiffError(
                f"signature chunk table is {len(self.chunk_table)} bytes, not a multiple of the "
                f"{CHUNK_RECORD.size}-byte record: at least one chunk has data missing"
            )
        for index, (length,) in enumerate(_CHUNK_LENGTH.iter_unpack(self.chunk_table)):
            if length <= 0:
                raise OctodiffError(f"signature chunk {index} has length {length}; chunk lengths must be positive")


def encode_name(name: str) -> bytes:
    """A .NET BinaryWriter string: ULEB128 byte count, then UTF-8."""
    encoded = name.encode("utf-8")
    length = len(encoded)
    prefix = bytearray()
    while True:
        low_bits = length & 0x7F
        length >>= 7
        if length:
            prefix.append(low_bits | 0x80)
        else:
            prefix.append(low_bits)
            return bytes(prefix) + encoded


class _ByteCursor:
    """Reads fields from a bytes object, raising OctodiffError instead of IndexError at the end."""

    def __init__(self, data: bytes | memoryview, what: str) -> None:
        self.data = memoryview(data)
        self.position = 0
        self.what = what

    def take(self, count: int, field_name: str) -> bytes:
        end = self.position + count
        if end > len(self.data):
            raise OctodiffError(f"{self.what} is truncated: it ends inside the {field_name}")
        taken = self.data[self.position : end].tobytes()
        self.position = end
        return taken

    def read_name(self, field_name: str) -> str:
        return decode_name(lambda count: self.take(count, field_name), field_name, self.what)


def decode_name(take: Callable[[int], bytes], field_name: str, what: str) -> str:
    """Decode a ULEB128-prefixed UTF-8 string using take(count) -> bytes (which raises on truncation)."""
    length = 0
    for shift in range(0, 35, 7):
        byte = take(1)[0]
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
    else:
        raise OctodiffError(f"{what} has a malformed length prefix on its {field_name}")
    if length > MAX_NAME_LENGTH:
        raise OctodiffError(f"{what} declares a {length}-byte {field_name}; at most {MAX_NAME_LENGTH} expected")
    try:
        return take(length).decode("utf-8")
    except UnicodeDecodeError as error:
        raise OctodiffError(f"{what} has a {field_name} that is not UTF-8") from error


def check_version(version: int, what: str) -> None:
    if version != FORMAT_VERSION:
        raise OctodiffError(f"{what} uses format version {version}; only version {FORMAT_VERSION} is supported")


def check_algorithms(hash_algorithm: str, rolling_algorithm: str | None, what: str) -> None:
    """Octodiff knows only SHA1 and the two Adler32 variants; anything else cannot be matched or verified."""
    if hash_algorithm != HASH_ALGORITHM:
        raise OctodiffError(f"{what} uses hash algorithm {hash_algorithm!r}; only {HASH_ALGORITHM!r} is supported")
    if rolling_algorithm is not None and rolling_algorithm not in ROLLING_ALGORITHMS:
        supported = " or ".join(repr(name) for name in ROLLING_ALGORITHMS)
        raise OctodiffError(f"{what} uses rolling checksum {rolling_algorithm!r}; only {supported} are supported")


def read_signature(data: bytes) -> Signature:
    """Parse and validate an OCTOSIG file."""
    what = "signature"
    cursor = _ByteCursor(data, what)
    if cursor.take(len(SIGNATURE_MAGIC), "header") != SIGNATURE_MAGIC:
        raise OctodiffError("signature does not start with 'OCTOSIG'; it is not an Octodiff signature")
    check_version(cursor.take(1, "format version")[0], what)
    hash_algorithm = cursor.read_name("hash algorithm name")
    rolling_algorithm = cursor.read_name("rolling checksum name")
    if cursor.take(len(END_OF_METADATA), "end-of-metadata marker") != END_OF_METADATA:
        raise OctodiffError("signature has no '>>>' after its header")
    return Signature(hash_algorithm, rolling_algorithm, bytes(cursor.data[cursor.position :]))


class DeltaWriter:
    """Writes OCTODELTA files, merging COPYs of adjacent basis ranges as Octodiff's own writer does.

    A COPY is held back until the next command shows whether it continues the same basis range; this is
    what makes our deltas byte-identical to the ones Octopus tooling produces.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._pending_copy_start = 0
        self._pending_copy_length = 0
        self.bytes_written = 0

    def _write(self, data) -> None:
        self._out.write(data)
        self.bytes_written += len(data)

    def write_header(self, new_file_hash: bytes) -> None:
        if len(new_file_hash) != HASH_LENGTH:
            raise OctodiffError(f"a {HASH_ALGORITHM} hash is {HASH_LENGTH} bytes, not {len(new_file_hash)}")
        self._write(
            DELTA_MAGIC
            + bytes([FORMAT_VERSION])
            + encode_name(HASH_ALGORITHM)
            + HASH_LENGTH_FIELD.pack(HASH_LENGTH)
            + new_file_hash
            + END_OF_METADATA
        )

    def write_copy(self, start: int, length: int) -> None:
        """Copy length bytes from basis offset start (possibly merged into the previous COPY)."""
        pending_length = self._pending_copy_length
        if pending_length > 0 and self._pending_copy_start + pending_length == start:
            self._pending_copy_length = pending_length + length
            return
        self._flush_copy()
        self._pending_copy_start = start
        self._pending_copy_length = length

    def _flush_copy(self) -> None:
        if self._pending_copy_length > 0:
            self._write(bytes([COPY_COMMAND]) + COPY_FIELDS.pack(self._pending_copy_start, self._pending_copy_length))
        self._pending_copy_start = 0
        self._pending_copy_length = 0

    def write_data(self, length: int, pieces: Iterable) -> None:
        """One DATA command of length bytes, taken from pieces (bytes-like objects that add up to length)."""
        self._flush_copy()
        self._write(bytes([DATA_COMMAND]) + DATA_LENGTH.pack(length))
        written = 0
        for piece in pieces:
            self._write(piece)
            written += len(piece)
        if written != length:
            raise OctodiffError(f"DATA command announced {length} bytes but {written} were supplied")

    def finish(self) -> None:
        self._flush_copy()
