"""Deflate backends and CRC helpers: every backend's blocks must join into one stream any inflater reads."""

import os
import zlib

import pytest

from octopus_pack.pack import compression
from octopus_pack.pack.compression import CompressionLevel, deflater_for


@pytest.mark.parametrize("length", [0, 1, 7, 1000, 1 << 20, 12_345_678])
def test_the_pure_python_crc32_combine_matches_zlib(length):
    first, second = os.urandom(100), os.urandom(min(length, 4096)) * (length // 4096 + 1)
    second = second[:length]
    combined = compression._python_crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second))
    assert combined == zlib.crc32(first + second)


@pytest.mark.parametrize("level", [CompressionLevel.FAST, CompressionLevel.OPTIMAL])
def test_blocks_primed_with_history_join_into_one_deflate_stream(level):
    deflater = deflater_for(level)
    data = b"".join(os.urandom(20) + b"octopus deploy " * 50 for _ in range(2000))
    blocks, size = [], 300_000
    for start in range(0, len(data), size):
        history = data[max(0, start - compression.WINDOW):start]
        blocks.append(deflater.compress_block(data[start:start + size], history, start + size >= len(data)))
    assert zlib.decompress(b"".join(blocks), -15) == data


def test_none_stores_and_a_bad_level_names_the_choices():
    assert deflater_for(CompressionLevel.NONE) is None
    with pytest.raises(compression.PipeError, match="use none, fast or optimal"):
        CompressionLevel.parse("max")
