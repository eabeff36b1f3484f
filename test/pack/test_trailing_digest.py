"""The SHA-256 and SHA-1 computed while the package is written must equal plain hashes of the finished file."""

import hashlib
import os
import threading

from octopus_pack.pack.digest import TrailingDigests


def test_the_trailing_digest_equals_hashing_the_finished_file(tmp_path):
    path = tmp_path / "package.zip"
    with open(path, "w+b", buffering=1 << 16) as out:
        digest = TrailingDigests(out.fileno())
        for index in range(200):
            out.write(os.urandom(5000 + index))
            if index % 7 == 0:
                digest.settle(out.tell() - 100)  # the last bytes may still be patched
        out.flush()
        os.pwrite(out.fileno(), b"patched", out.tell() - 50)
        result = digest.finish(out.tell())
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.sha1 == hashlib.sha1(path.read_bytes()).hexdigest()


def test_stopping_does_not_wait_for_bytes_that_will_never_be_written(tmp_path):
    with open(tmp_path / "abandoned.zip", "w+b", buffering=1 << 20) as out:
        digest = TrailingDigests(out.fileno())
        out.write(b"x" * 1000)  # stays in the buffer
        digest.settle(1000)
        stopper = threading.Thread(target=digest.stop)
        stopper.start()
        stopper.join(timeout=5)
        assert not stopper.is_alive()
