"""Streaming request bodies for the fake server: Content-Length or chunked, and multipart/form-data to disk.

Uploads in tests reach a gigabyte, so nothing here holds a whole body: readers hand out blocks and the
multipart parser writes the file part to a temporary file while hashing it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.parser import HeaderParser
from email.utils import collapse_rfc2231_value
from pathlib import Path
from typing import BinaryIO

BLOCK_SIZE = 1 << 20
MAX_PART_HEADER_BYTES = 64 * 1024


class BodyError(ValueError):
    """The request body is malformed (bad chunking, truncated, or broken multipart)."""


class BodyReader:
    """Reads a request body of known length, or chunked, and counts the decoded bytes."""

    def __init__(self, raw: BinaryIO, length: int | None, chunked: bool) -> None:
        self._raw = raw
        self._remaining = length or 0
        self._chunked = chunked
        self._chunk_left = 0
        self._done = not chunked and not length
        self.bytes_read = 0

    def read(self, size: int = BLOCK_SIZE) -> bytes:
        """Up to `size` bytes; b"" at the end of the body."""
        if self._done:
            return b""
        if self._chunked:
            data = self._read_chunked(size)
        else:
            data = self._raw.read(min(size, self._remaining))
            if not data:
                raise BodyError("the request body ended before Content-Length bytes arrived")
            self._remaining -= len(data)
            self._done = self._remaining == 0
        self.bytes_read += len(data)
        return data

    def drain(self) -> None:
        """Read and discard the rest, so the response can be sent on a clean connection."""
        while self.read():
            pass

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            line = self._raw.readline(1024)
            if not line.endswith(b"\n"):
                raise BodyError("the chunked request body ended inside a chunk header")
            try:
                self._chunk_left = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BodyError(f"bad chunk size line {line[:40]!r}") from None
            if self._chunk_left == 0:
                while self._raw.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._done = True
                return b""
        data = self._raw.read(min(size, self._chunk_left))
        if not data:
            raise BodyError("the chunked request body ended inside a chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and self._raw.readline(8) not in (b"\r\n", b"\n"):
            raise BodyError("a chunk was not followed by CRLF")
        return data


@dataclass
class FilePart:
    """The first part that carried a file name, already saved to `path`."""

    field_name: str | None
    file_name: str
    content_type: str | None
    path: Path
    size: int
    sha1: str


def boundary_of(content_type: str) -> bytes | None:
    """The boundary parameter of a multipart/form-data Content-Type, or None if it is not one."""
    message = HeaderParser().parsestr(f"Content-Type: {content_type}\r\n")
    if message.get_content_type() != "multipart/form-data":
        return None
    boundary = message.get_param("boundary")
    return boundary.encode("latin-1") if isinstance(boundary, str) and boundary else None


def read_multipart(body: BodyReader, boundary: bytes, target: Path) -> FilePart | None:
    """Parse a multipart body, saving the first file part to `target`; other parts are read and dropped.

    Scans for the delimiter over a rolling buffer, keeping back only as many bytes as could be the start
    of a delimiter, so memory stays at about one block whatever the file size.
    """
    delimiter = b"\r\n--" + boundary
    buffer = bytearray(b"\r\n")  # lets the opening boundary match like every other one
    found: FilePart | None = None

    def fill() -> None:
        block = body.read()
        if not block:
            raise BodyError("the multipart body ended before its closing boundary")
        buffer.extend(block)

    while (start := buffer.find(delimiter)) < 0:
        del buffer[: max(0, len(buffer) - len(delimiter))]
        fill()
    del buffer[: start + len(delimiter)]

    while True:
        while len(buffer) < 2:
            fill()
        if buffer[:2] == b"--":
            body.drain()  # epilogue
            return found
        while (end := buffer.find(b"\r\n")) < 0:
            if len(buffer) > 1024:
                raise BodyError("garbage after a multipart boundary")
            fill()
        del buffer[: end + 2]
        while not buffer.startswith(b"\r\n") and (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > MAX_PART_HEADER_BYTES:
                raise BodyError("multipart part headers are too long")
            fill()
        if buffer.startswith(b"\r\n"):
            headers_text, skip = "", 2
        else:
            headers_text, skip = buffer[:end].decode("utf-8", "replace"), end + 4
        del buffer[:skip]
        headers = HeaderParser().parsestr(headers_text + "\r\n")
        file_name = _file_name(headers)
        keep = found is None and file_name is not None
        digest = hashlib.sha1()
        size = 0
        with target.open("wb") if keep else _Discard() as sink:
            while True:
                end = buffer.find(delimiter)
                if end >= 0:
                    piece = bytes(buffer[:end])
                    del buffer[: end + len(delimiter)]
                else:
                    cut = max(0, len(buffer) - len(delimiter) + 1)
                    piece = bytes(buffer[:cut])
                    del buffer[:cut]
                if keep and piece:
                    sink.write(piece)
                    digest.update(piece)
                    size += len(piece)
                if end >= 0:
                    break
                fill()
        if keep:
            assert file_name is not None
            disposition_name = headers.get_param("name", header="content-disposition")
            found = FilePart(
                disposition_name if isinstance(disposition_name, str) else None,
                file_name,
                headers.get("content-type"),
                target,
                size,
                digest.hexdigest(),
            )


def _file_name(headers) -> str | None:
    """The Content-Disposition filename (plain or RFC 2231 `filename*`), or None for a plain form field."""
    value = headers.get_param("filename", header="content-disposition")
    if value is None:
        return None
    return collapse_rfc2231_value(value)


class _Discard:
    def __enter__(self) -> _Discard:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, data: bytes) -> None:
        return None
