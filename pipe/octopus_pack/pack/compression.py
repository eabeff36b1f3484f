"""Raw-deflate backends for the zip writer: the fastest deterministic one per level.

Reproducible packages (SOURCE_DATE_EPOCH) need the same bytes for the same input on every run, machine and
number of workers, so they use only zlib-ng and libdeflate. ISA-L, twice as fast at `fast`, compresses only
packages that are not reproducible anyway (their entries carry the files' times): on a node_modules tree packed
by two threads (before the workers were processes), its output for some small files changed from run to run
(valid, but different bytes; intel/isa-l#140), and it picks its code by CPU.

Large files stream through zlib-ng: blocks that end in a sync flush and start with the previous 32 KiB as a
preset dictionary concatenate into one ordinary deflate stream (as pigz does). Whole files up to a block go to
libdeflate (the `deflate` package), which cannot stream or take a preset dictionary but is faster per file.
The smallest files go to zlib-ng level 1: libdeflate costs more to set up per call than compressing them takes.
"""

import enum
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import deflate as _libdeflate
from isal import isal_zlib as _isal
from zlib_ng import zlib_ng as _zlib_ng

from octopus_pack.errors import PipeError

WINDOW = 32 * 1024  # deflate's history: the preset dictionary each parallel block starts from
OPTIMAL_LEVEL = 5  # libdeflate and zlib-ng: smaller and faster than zlib's level 6 on our corpora
FAST_LEVEL = 1
FAST_BLOCK_LEVEL = 2  # large files at `fast`: zlib-ng's level 1 is a static-Huffman coder, 10-15% larger
# Whole files up to this size go to zlib-ng level 1 rather than libdeflate (see above); higher at `fast`, where
# libdeflate's level 1 gains less over zlib-ng's.
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
    """One backend at one level; whole, when set, is a faster one-shot compressor for complete streams."""

    name: str
    module: ModuleType
    level: int
    whole: WholeCompressor | None = None

    def compress_whole(self, data: bytes | memoryview) -> bytes | bytearray:
        """A complete raw deflate stream for data (the common case: a file that fits in one block)."""
        return self.one_shot()(data)

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
    if fast and not deterministic and _isal is not None:  # None only in the benchmark's no-ISA-L variant
        return Deflater("isal", _isal, FAST_LEVEL)
    block_level = FAST_BLOCK_LEVEL if fast else OPTIMAL_LEVEL
    if _libdeflate is None:  # the benchmark's no-libdeflate variant
        return Deflater("zlib-ng", _zlib_ng, block_level)
    whole_level, small = FAST_LEVEL if fast else OPTIMAL_LEVEL, SMALL_FILE[level.value]
    compress, quick = _libdeflate.deflate_compress, _zlib_ng.compress

    def whole(data: bytes | memoryview) -> bytes | bytearray:
        if len(data) <= small:
            return quick(data, FAST_LEVEL, -15)
        return compress(data, whole_level)

    return Deflater("libdeflate+zlib-ng", _zlib_ng, block_level, whole)


crc32: Callable[..., int] = _zlib_ng.crc32
crc32_combine: Callable[[int, int, int], int] = _zlib_ng.crc32_combine
