"""SHA-256 of a package while it is being written, so reporting it costs no extra pass at the end.

The zip writer patches CRCs and sizes into the headers of large entries after their data, so bytes are only
final once the writer says so (settle). A thread reads back and hashes what has settled, from the page
cache, while the writer works on what comes next; hashlib and pread release the GIL.
"""

import hashlib
import os
import threading

_CHUNK = 1 << 20


class TrailingSha256:
    """Hashes the file behind fd up to the offset the writer last settled; hexdigest() finishes it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.digest = hashlib.sha256()
        self.hashed = 0
        self.settled = 0
        self.closing = False
        self.failure: OSError | None = None
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._hash_settled_bytes, name="sha256", daemon=True)
        self.thread.start()

    def settle(self, offset: int) -> None:
        """Bytes before offset will not change any more (they may still sit in the writer's buffer)."""
        with self.changed:
            self.settled = offset
            self.changed.notify()

    def hexdigest(self, size: int) -> str:
        """The digest of the whole file, once the writer has flushed all size bytes."""
        with self.changed:
            self.settled = size
            self.closing = True
            self.changed.notify()
        self.thread.join()
        if self.failure:
            raise self.failure
        return self.digest.hexdigest()

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
                    self.digest.update(view[:count])
                    self.hashed += count
                elif closing:  # everything was flushed before closing: the file is shorter than it should be
                    raise OSError(f"the package ended at {self.hashed} bytes, expected {until}")
                else:  # still in the writer's buffer: it reaches the file soon
                    with self.changed:
                        self.changed.wait(0.005)
        except OSError as error:
            self.failure = error
