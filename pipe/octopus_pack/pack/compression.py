"""Raw-deflate backends for the zip writer: the fastest compatible one per level, with a stock-zlib fallback.

Measured on our 2-core runners (1 MiB blocks of Python source): zlib-ng level 6 gives zlib level 6's ratio
within 1% at twice the speed, ISA-L level 2 compresses 3.5x faster than zlib level 1 and smaller, and both
release the GIL, so threads compress in parallel. Blocks that end in a sync flush and start with the previous
32 KiB as a preset dictionary concatenate into one ordinary deflate stream (as pigz does).

Whole small files at `optimal` go to libdeflate (the `deflate` package, which releases the GIL from 0.9):
on the files of a node_modules tree it is 1.4x faster than zlib-ng level 6 at level 5, and as small. It
cannot stream or take a preset dictionary, so large files stay on zlib-ng, where level 5 is 1.2-2x faster
than level 6 for 1% more. At `fast`, ISA-L is twice as fast as libdeflate level 1 and stays the only backend.
"""

import enum
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from octopus_pack.errors import PipeError

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
# `optimal` in libdeflate and zlib-ng: level 5 of either still makes packages smaller than Info-ZIP's (zlib's)
# level 6 on the standard library (0.996x) and on node_modules (0.956x), at 0.8x the CPU time of level 6.
OPTIMAL_LEVEL = 5
# Files up to this size go to ISA-L even at `optimal`: libdeflate spends ~12 us setting up per call (it clears
# its hash tables), more than compressing them takes; ISA-L starts in ~5 us, for 2% more of their tiny size.
# Half the files of a node_modules tree are this small: 0.14 s of 3 s CPU saved, 0.2% larger package.
TINY_FILE = 1024


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


def deflater_for(level: CompressionLevel) -> Deflater | None:
    """The backend for a level, or None when entries are stored."""
    if level is CompressionLevel.NONE:
        return None
    if level is CompressionLevel.FAST:
        if _isal is not None:
            return Deflater("isal", _isal, 1)
        return Deflater("zlib", zlib, 1)
    whole = None
    if _libdeflate is not None:
        whole = _libdeflate_at(OPTIMAL_LEVEL, tiny=_isal.compress if _isal is not None else None)
    if _zlib_ng is not None:
        return Deflater("libdeflate+zlib-ng" if whole else "zlib-ng", _zlib_ng, OPTIMAL_LEVEL, whole)
    return Deflater("libdeflate+zlib" if whole else "zlib", zlib, 6, whole)


def _libdeflate_at(level: int, tiny: Callable[..., bytes] | None) -> WholeCompressor:
    """libdeflate for whole files; tiny ones to the cheaper-to-start compressor when there is one."""
    compress = _libdeflate.deflate_compress
    if tiny is None:
        return lambda data: compress(data, level)

    def whole(data: bytes | memoryview) -> bytes | bytearray:
        if len(data) <= TINY_FILE:
            return tiny(data, 1, -15)
        return compress(data, level)

    return whole


def _native_crc32_combine() -> Callable[[int, int, int], int] | None:
    for module in (_zlib_ng, _isal):
        if module is not None:
            return module.crc32_combine
    return None


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
