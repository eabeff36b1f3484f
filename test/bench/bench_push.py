"""Measure the client's peak memory and speed while pushing a large package to the fake Octopus server.

Usage: python3 test/bench/bench_push.py [SIZE_MB] [--delta]   (default 1024 MB)

The fake server runs in its own process, so the figures are the pipe's alone. Peak RSS is Linux's VmHWM,
reset just before each push; the baseline is the RSS with everything imported. With --delta a second
version with one changed region is pushed as an Octodiff delta against the first (signature download,
delta build, delta upload). Not collected by pytest.
"""

import argparse
import hashlib
import logging
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FAKES_DIR = REPO_ROOT / "test" / "fakes"
sys.path.insert(0, str(REPO_ROOT / "pipe"))

from octopus_pack.config.bitbucket import bitbucket_build_from  # noqa: E402
from octopus_pack.octopus import OctopusSettings, push_to_octopus  # noqa: E402
from octopus_pack.octopus.settings import ApiKey  # noqa: E402
from octopus_pack.package_result import PackageResult  # noqa: E402

MB = 1024 * 1024
ENTRY = 64 * MB


def write_package(path: Path, size_mb: int, seed: int, changed_entry: int | None = None) -> PackageResult:
    """A stored (uncompressed) zip of random 64 MB entries; `changed_entry` gets a different first megabyte."""
    rng = random.Random(seed)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for n in range(max(1, size_mb * MB // ENTRY)):
            with archive.open(zipfile.ZipInfo(f"data/part{n:03}.bin", (2024, 1, 1, 0, 0, 0)), "w") as entry:
                for block in range(ENTRY // MB):
                    data = rng.randbytes(MB)
                    if n == changed_entry and block == 0:
                        data = bytes(MB)
                    entry.write(data)
    package_id, version = path.name.split(".", 1)[0], path.name.split(".", 1)[1].rsplit(".", 1)[0]
    sha1 = hashlib.sha1(path.read_bytes()).hexdigest()
    return PackageResult(path, package_id, version, "zip", path.stat().st_size, "", size_mb * MB // ENTRY, sha1)


def memory(field: str) -> int:
    """A Vm* line of /proc/self/status, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise KeyError(field)


def measured_push(settings: OctopusSettings, package: PackageResult) -> tuple[float, int]:
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    started = time.monotonic()
    push_to_octopus(settings, package, bitbucket_build_from({}))
    return time.monotonic() - started, memory("VmHWM")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size_mb", nargs="?", type=int, default=1024)
    parser.add_argument("--delta", action="store_true", help="also push a second version as a delta")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")

    server = subprocess.Popen([sys.executable, "-m", "fake_octopus"], cwd=FAKES_DIR, stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split()[-1]
        key = server.stdout.readline().split()[2]
        with tempfile.TemporaryDirectory(prefix="bench-push-") as work:
            first = write_package(Path(work) / "Bench.1.0.0.zip", options.size_mb, seed=1)
            settings = OctopusSettings(server=url, credential=ApiKey(key), push_build_information=False)
            baseline = memory("VmRSS")
            seconds, peak = measured_push(settings, first)
            print(f"full upload of {first.size / MB:.0f} MB: {seconds:.1f} s ({first.size / MB / seconds:.0f} MB/s), "
                  f"peak RSS {peak} MB (baseline {baseline} MB)")
            if options.delta:
                second = write_package(Path(work) / "Bench.1.0.1.zip", options.size_mb, seed=1, changed_entry=1)
                seconds, peak = measured_push(settings, second)
                print(f"delta push of {second.size / MB:.0f} MB: {seconds:.1f} s, peak RSS {peak} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
