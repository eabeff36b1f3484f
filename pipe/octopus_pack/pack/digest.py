"""SHA-256 and SHA-1 of a package while it is being written, so neither costs an extra pass at the end.

Octopus reports a package's SHA-1 (its Hash) and people compare SHA-256 sums: both come from one read-back.
The zip writer patches CRCs and sizes into the headers of large entries after their data, so bytes are only
final once the writer says so (settle). A thread reads back and hashes what has settled, from the page
cache, while the writer works on what comes next; hashlib and pread release the GIL.
"""

import hashlib
import os
import threading
from dataclasses import dataclass

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Digests:
    """The hex digests of one finished file."""

    sha256: str
    sha1: str


class TrailingDigests:
    """Hashes the file behind fd up to the offset the writer last settled; finish() completes it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.sha256 = hashlib.sha256()
        self.sha1 = hashlib.sha1(usedforsecurity=False)
        self.hashed = 0
        self.settled = 0
        self.closing = False
        self.failure: OSError | None = None
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._hash_settled_bytes, name="digests", daemon=True)
        self.thread.start()

    def settle(self, offset: int) -> None:
        """Bytes before offset will not change any more (they may still sit in the writer's buffer)."""
        with self.changed:
            self.settled = offset
            self.changed.notify()

    def finish(self, size: int) -> Digests:
        """The digests of the whole file, once the writer has flushed all size bytes."""
        with self.changed:
            self.settled = size
            self.closing = True
            self.changed.notify()
        self.thread.join()
        if self.failure:
            raise self.failure
        return Digests(self.sha256.hexdigest(), self.sha1.hexdigest())

    def stop(self) -> None:
        """Give up (the package is being abandoned)."""
        with self.changed:
            self.closing = True
            self.settled = self.hashed
            self.changed.notify()
        self.thread.join()

    def _hash_settled_bytes(self) -> None:
        # One buffer for the whole run: allocating a chunk per read (then shrinking it to the few KB already
        # flushed) fragments the heap by tens of MB on trees of many small files.
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        try:
            while True:
                with self.changed:
                    while self.hashed >= self.settled and not self.closing:
                        self.changed.wait()
                    if self.hashed >= self.settled:
                        return
                    until, closing = self.settled, self.closing
                count = os.preadv(self.fd, [view[: min(_CHUNK, until - self.hashed)]], self.hashed)
                if count:
                    self.sha256.update(view[:count])
                    self.sha1.update(view[:count])
                    self.hashed += count
                elif closing:  # everything was flushed before closing: the file is shorter than it should be
                    raise OSError(f"the package ended at {self.hashed} bytes, expected {until}")
                else:  # still in the writer's buffer: it reaches the file soon
                    with self.changed:
                        self.changed.wait(0.005)
        except OSError as error:
            self.failure = error
