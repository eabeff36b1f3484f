"""Raw-deflate backends for the zip writer: the fastest deterministic one per level, with a stock-zlib fallback.

Reproducible packages (SOURCE_DATE_EPOCH) need the same bytes for the same input on every run, machine and
number of workers, so they use only zlib-ng and libdeflate. ISA-L, twice as fast at `fast`, compresses only
packages that are not reproducible anyway (their entries carry the files' times): on a node_modules tree packed
by two threads (before the workers were processes), its output for some small files changed from run to run
(valid, but different bytes; intel/isa-l#140), and it picks its code by CPU.

Large files stream through zlib-ng: blocks that end in a sync flush and start with the previous 32 KiB as a
preset dictionary concatenate into one ordinary deflate stream (as pigz does). Whole files up to a block go to
libdeflate (the `deflate` package), which cannot stream or take a preset dictionary but is faster per file.
The smallest files go to zlib-ng level 1: libdeflate spends about 12 us setting up each call, more than
compressing them takes. Measured on one core, in memory, on the files of a real node_modules tree (26,767
files) and of the Python standard library:
- `optimal`: libdeflate level 5 is as small as zlib-ng level 5 and a little faster; both make packages smaller
  than Info-ZIP's level 6 (0.996x on the standard library, 0.96x on node_modules) at 0.8x level 6's CPU time.
- `fast`: ISA-L level 1 took 0.40 s and 0.52 s; the deterministic mix (zlib-ng level 1 up to 4 KiB,
  libdeflate level 1 above) 0.52 s and 0.85 s, for 1% more and 3.5% less output.
"""

import enum
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from octopus_pack.errors import PipeError

_zlib_ng: ModuleType | None
_isal: ModuleType | None
_libdeflate: ModuleType | None
try:
    from zlib_ng import zlib_ng as _zlib_ng
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    _zlib_ng = None
try:
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover
    _isal = None
try:
    import deflate as _libdeflate
except ImportError:  # pragma: no cover
    _libdeflate = None

WINDOW = 32 * 1024  # deflate's history: the preset dictionary each parallel block starts from
OPTIMAL_LEVEL = 5  # libdeflate and zlib-ng: smaller than zlib's level 6 on our corpora, at 0.8x its CPU time
FAST_LEVEL = 1
FAST_BLOCK_LEVEL = 2  # large files at `fast`: zlib-ng's level 1 is a static-Huffman coder, 10-15% larger
# Whole files up to this size go to zlib-ng level 1 rather than libdeflate, which costs more to start than they
# take to compress. At `fast` the cut is higher, since libdeflate's level 1 gains less over zlib-ng's.
SMALL_FILE = {"optimal": 1024, "fast": 4096}


class CompressionLevel(enum.Enum):
    """octo's --compressionLevel values: stored, fastest deflate, or deflate as `optimal` as zlib's default."""

    NONE = "none"
    FAST = "fast"
    OPTIMAL = "optimal"

    @classmethod
    def parse(cls, text: str, source: str = "COMPRESSION_LEVEL") -> "CompressionLevel":
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise PipeError(f"{source} is '{text}': use none, fast or optimal.") from None


WholeCompressor = Callable[[bytes | memoryview], bytes | bytearray]


@dataclass(frozen=True)
class Deflater:
    """One backend at one level; compress_block makes a piece of a raw deflate stream.

    whole, when set, is a faster one-shot compressor for complete streams (libdeflate); module does the rest.
    """

    name: str
    module: ModuleType
    level: int
    whole: WholeCompressor | None = None

    def compress_whole(self, data: bytes | memoryview) -> bytes | bytearray:
        """A complete raw deflate stream for data (the common case: a file that fits in one block)."""
        if self.whole is not None:
            return self.whole(data)
        return self.module.compress(data, self.level, -15)

    def one_shot(self) -> WholeCompressor:
        """compress_whole as one plain function, for the per-file loop."""
        if self.whole is not None:
            return self.whole
        compress, level = self.module.compress, self.level
        return lambda data: compress(data, level, -15)

    def compress_block(self, data: bytes | memoryview, history: bytes, final: bool) -> bytes:
        """A piece of a stream: primed with the preceding history, ending byte-aligned unless final."""
        if history:
            compressor = self.module.compressobj(self.level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, history)
        else:
            compressor = self.module.compressobj(self.level, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


def deflater_for(level: CompressionLevel, deterministic: bool = True) -> Deflater | None:
    """The backend for a level, or None when entries are stored; deterministic=False allows ISA-L at `fast`."""
    if level is CompressionLevel.NONE:
        return None
    fast = level is CompressionLevel.FAST
    if fast and not deterministic and _isal is not None:
        return Deflater("isal", _isal, FAST_LEVEL)
    if _zlib_ng is None:  # stock zlib: slower, but just as deterministic
        return Deflater("zlib", zlib, 1 if fast else 6)
    block_level = FAST_BLOCK_LEVEL if fast else OPTIMAL_LEVEL
    if _libdeflate is None:
        return Deflater("zlib-ng", _zlib_ng, block_level)
    whole = _small_to_zlib_ng(FAST_LEVEL if fast else OPTIMAL_LEVEL, SMALL_FILE[level.value])
    return Deflater("libdeflate+zlib-ng", _zlib_ng, block_level, whole)


def _small_to_zlib_ng(level: int, small: int) -> WholeCompressor:
    """libdeflate at `level` for whole files; the smallest ones to zlib-ng level 1, which starts faster."""
    assert _libdeflate is not None and _zlib_ng is not None  # deflater_for checked both
    compress, quick = _libdeflate.deflate_compress, _zlib_ng.compress

    def whole(data: bytes | memoryview) -> bytes | bytearray:
        if len(data) <= small:
            return quick(data, FAST_LEVEL, -15)
        return compress(data, level)

    return whole


def _native_crc32_combine() -> Callable[[int, int, int], int] | None:
    return _zlib_ng.crc32_combine if _zlib_ng is not None else None


crc32: Callable[..., int] = _zlib_ng.crc32 if _zlib_ng is not None else zlib.crc32


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _python_crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """zlib's crc32_combine, for when neither native library is installed.

    Appending length2 zero bytes to the first part is a linear map over GF(2): square the one-bit map up
    to one byte, then apply it for each set bit of length2, squaring as the bits go up.
    """
    operator = [0xEDB88320] + [1 << n for n in range(31)]  # append one zero bit
    for _ in range(3):
        operator = [_gf2_times(operator, row) for row in operator]  # ... then 2, 4, 8 bits: one byte
    while length2 > 0:
        if length2 & 1:
            crc1 = _gf2_times(operator, crc1)
        length2 >>= 1
        if length2:
            operator = [_gf2_times(operator, row) for row in operator]
    return crc1 ^ crc2


crc32_combine: Callable[[int, int, int], int] = _native_crc32_combine() or _python_crc32_combine
