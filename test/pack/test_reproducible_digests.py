"""Reproducible packages keep their exact bytes from release to release: their SHA-256 digests are pinned here.

The tree mixes every path through the engine: small files of several sizes (each compressor's size range), a
file over 1 MiB that compresses (split into blocks), one that does not (stored), and an empty file. A change to
the deflate libraries, their levels or the layout of the zip shows up here as a changed digest.
"""

import hashlib
import random
from pathlib import Path

import pytest

from octopus_pack.pack.compression import CompressionLevel
from octopus_pack.pack.nuget import NuspecMetadata
from octopus_pack.pack.packager import EntryTimes, PackRequest, build_package

FIXED_TIME = 1_700_000_000.0  # what SOURCE_DATE_EPOCH or the commit time gives every entry

PINNED = {
    ("zip", CompressionLevel.OPTIMAL): "714cb345fc42a5089672240f7e1293d6ff685f1c16bcc4328a3077ca98956440",
    ("zip", CompressionLevel.FAST): "47bf980c88aa2c4d936d5fde0559a64a965a03205764c763fecbf1465d34c212",
    ("zip", CompressionLevel.NONE): "bc91f2b0ea8b4c671bebdabe316935bd7e5d53ca6d44770df76e7194fdf1789e",
    ("nupkg", CompressionLevel.OPTIMAL): "b4b03c9744d0c05f18abb95659daa80a9a30fb8a55ed492190f5b8edf82cc86c",
    ("nupkg", CompressionLevel.FAST): "c11159e99f0761e86a42927da2c0c6ff960e6ba6f747cf3adf41d49c0375b05a",
    ("nupkg", CompressionLevel.NONE): "b6763477ac08b76f479a85035a34a967d56336ef9e2cb5618ef439f4265b4132",
}


def text(rng: random.Random, size: int) -> bytes:
    words = [b"deploy", b"octopus", b"package", b"release", b"tentacle", b"\n", b"step", b"1.0.0", b"{", b"}"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" " + str(rng.randrange(1000)).encode() + b" "
    return bytes(out[:size])


def generated_tree(base: Path) -> Path:
    rng = random.Random(20)
    files = {"empty.txt": b"", "large/log.txt": text(rng, 2 * 1024 * 1024 + 4321),
             "large/random.bin": rng.randbytes(1024 * 1024 + 99)}
    for index, size in enumerate([10, 200, 1000, 1024, 1025, 3000, 4096, 4097, 20_000, 300_000]):
        files[f"src/part{index % 3}/file{index}.js"] = text(rng, size)
    files["src/image.png"] = rng.randbytes(5000)
    for name, data in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if name.endswith(".txt") else 0o644)
    return base


@pytest.mark.parametrize(("package_format", "level"), list(PINNED))
def test_reproducible_packages_keep_their_bytes(tmp_path, package_format, level):
    metadata = NuspecMetadata("MyCompany.MyApp", "1.0.0", ("@",), "Pinned bytes.") if package_format == "nupkg" \
        else None
    request = PackRequest("MyCompany.MyApp", "1.0.0", package_format, generated_tree(tmp_path / "src"),
                          tmp_path / "out", compression=level, metadata=metadata,
                          entry_times=EntryTimes(fixed=FIXED_TIME))
    result = build_package(request)
    digest = hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert digest == result.sha256
    assert digest == PINNED[package_format, level]
