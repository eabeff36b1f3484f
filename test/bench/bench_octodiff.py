"""Time octodiff on package-sized files: signature, delta (small change and no match at all), and patch.

Usage: python3 test/bench/bench_octodiff.py [SIZE_MB]   (default 256; the product target is a 256 MB delta in 5 s)

The basis is a pseudo-zip: local-header-like records around entries that are either random (like deflated
data) or text-like (compressible). The changed copy overwrites one region and inserts another, as a rebuilt
package with one changed and one new file would. The unrelated file is a second pseudo-zip from another seed,
the worst case for the search. The new file's SHA-1 is computed before its delta step is timed, because the
pipe already has it (it is computed while the package is written). Peak RSS is given per step (Linux VmHWM,
reset before each step) and for the whole process (getrusage).
"""

import contextlib
import filecmp
import hashlib
import random
import resource
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "pipe"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))  # octodiff_tools

from octodiff_tools import apply_delta, build_signature
from octopus_pack.octodiff import build_delta

MB = 1024 * 1024
WORDS = (
    b"package deploy octopus release version config service worker request response handler module "
    b"assembly runtime library content static script style index manifest resource binary"
).split()


def _text_like(rng: random.Random, size: int) -> bytes:
    """Compressible bytes: lines of words, built from a small random vocabulary sample."""
    line_words = [rng.choice(WORDS) for _ in range(4096)]
    text = bytearray()
    while len(text) < size:
        start = rng.randrange(len(line_words) - 12)
        text += b" ".join(line_words[start : start + rng.randrange(3, 12)]) + b";\n"
    return bytes(text[:size])


def write_pseudo_zip(path: Path, size: int, seed: int) -> None:
    """A deterministic zip-shaped file of about size bytes, written in bounded pieces."""
    rng = random.Random(seed)
    written = 0
    number = 0
    with open(path, "wb") as out:
        while written < size:
            name = f"content/dir{number % 37}/file{number}.bin".encode()
            if rng.random() < 0.7:
                body = rng.randbytes(min(rng.randrange(1024, 2 * MB), size - written))
            else:
                body = _text_like(rng, min(rng.randrange(1024, MB // 2), size - written))
            header = b"PK\x03\x04" + struct.pack("<5H3I2H", 20, 0, 8, 0, 0, 0, len(body), len(body), len(name), 0)
            out.write(header + name + body)
            written += len(header) + len(name) + len(body)
            number += 1


def write_changed_copy(basis: Path, path: Path, seed: int) -> None:
    """The basis with 1 MB overwritten at 60% and 256 KB inserted at 30%, streamed."""
    rng = random.Random(seed)
    size = basis.stat().st_size
    insert_at, overwrite_at = size * 3 // 10, size * 6 // 10
    overwrite_length = min(MB, size - overwrite_at)
    with open(basis, "rb") as source, open(path, "wb") as out:
        position = 0
        for stop, replacement, skip in (
            (insert_at, rng.randbytes(256 * 1024), 0),
            (overwrite_at, rng.randbytes(overwrite_length), overwrite_length),
            (size, b"", 0),
        ):
            while position < stop:
                piece = source.read(min(8 * MB, stop - position))
                out.write(piece)
                position += len(piece)
            out.write(replacement)
            source.seek(skip, 1)
            position += skip


def _reset_step_peak() -> None:
    """Start a new per-step peak (Linux: writing 5 to clear_refs resets VmHWM); elsewhere a no-op."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _step_peak_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _process_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024


def _timed(step: Callable[[], object]) -> tuple[float, object, float | None]:
    _reset_step_peak()
    started = time.perf_counter()
    result = step()
    return time.perf_counter() - started, result, _step_peak_mb()


def run_delta_benchmark(size_mb: int = 256) -> dict[str, object]:
    """Build the files in a temporary directory, time each octodiff step and return the measurements."""
    results: dict[str, object] = {"file size (MB)": size_mb}
    with tempfile.TemporaryDirectory(prefix="octodiff-bench-") as folder:
        work = Path(folder)
        basis, changed, unrelated = work / "basis.zip", work / "changed.zip", work / "unrelated.zip"
        write_pseudo_zip(basis, size_mb * MB, seed=1)
        write_changed_copy(basis, changed, seed=2)
        write_pseudo_zip(unrelated, size_mb * MB, seed=3)

        def signature_step() -> bytes:
            with open(basis, "rb") as stream:
                return build_signature(stream)

        def delta_step(new_file: Path, delta_path: Path) -> Callable[[], int]:
            with open(new_file, "rb") as file:
                sha1 = hashlib.file_digest(file, "sha1").digest()

            def step() -> int:
                with open(delta_path, "wb") as out:
                    return build_delta(new_file, signature, out, new_file_sha1=sha1)

            return step

        def apply_step() -> None:
            rebuilt = work / "rebuilt.zip"
            with open(basis, "rb") as base, open(work / "changed.delta", "rb") as delta, open(rebuilt, "wb") as out:
                apply_delta(base, delta, out)

        seconds, signature, peak = _timed(signature_step)
        _record(results, "signature", seconds, size_mb, peak, len(signature))
        for name, new_file in (("delta, changed copy", changed), ("delta, unrelated file", unrelated)):
            delta_path = work / f"{new_file.stem}.delta"
            seconds, written, peak = _timed(delta_step(new_file, delta_path))
            _record(results, name, seconds, new_file.stat().st_size / MB, peak, written)
            if new_file is unrelated:
                delta_path.unlink()
        seconds, _, peak = _timed(apply_step)
        _record(results, "apply, changed copy", seconds, changed.stat().st_size / MB, peak, None)
        if not filecmp.cmp(work / "rebuilt.zip", changed, shallow=False):
            raise AssertionError("applying the delta did not rebuild the changed copy")
    # Resetting VmHWM also resets what getrusage reports, so the run's peak is the largest of both.
    step_peaks = [value for key, value in results.items() if key.endswith("peak RSS (MB)")]
    results["peak RSS, whole run (MB)"] = round(max([_process_peak_mb(), *step_peaks]), 1)
    return results


def _record(
    results: dict[str, object], name: str, seconds: float, input_mb: float, peak_mb: float | None, size: int | None
) -> None:
    results[f"{name}: seconds"] = round(seconds, 3)
    results[f"{name}: MB/s"] = round(input_mb / seconds, 1)
    if size is not None:
        results[f"{name}: output bytes"] = size
    if peak_mb is not None:
        results[f"{name}: peak RSS (MB)"] = round(peak_mb, 1)


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    for key, value in run_delta_benchmark(size_mb).items():
        print(f"{key:<40} {value}")


if __name__ == "__main__":
    main()
