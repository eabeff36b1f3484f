"""The SHA-256 and SHA-1 the writer takes while it writes must equal plain hashes of the finished file."""

import hashlib
import os

from octopus_pack.pack import zip_writer
from octopus_pack.pack.compression import CompressionLevel
from octopus_pack.pack.zip_writer import write_zip
from test_zip_writer import make_files, text_bytes


def test_the_digests_equal_hashing_the_finished_file(tmp_path):
    """Large entries get their CRC and sizes patched into their headers after their data: hashed after that."""
    entries = make_files(tmp_path / "src", {
        "a.txt": text_bytes(3000), "large/text.log": text_bytes(2 * zip_writer.BLOCK_SIZE + 5, seed=3),
        "b.bin": os.urandom(9000), "large/random.bin": os.urandom(zip_writer.BLOCK_SIZE + 1), "z.txt": b"",
    })
    path = tmp_path / "package.zip"
    with open(path, "w+b") as out:
        stats = write_zip(out, entries, CompressionLevel.OPTIMAL, workers=2)
    assert stats.size == path.stat().st_size
    assert stats.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert stats.sha1 == hashlib.sha1(path.read_bytes()).hexdigest()


def test_the_digests_of_an_empty_archive(tmp_path):
    path = tmp_path / "empty.zip"
    with open(path, "w+b") as out:
        stats = write_zip(out, [], CompressionLevel.FAST, workers=1)
    assert stats.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
