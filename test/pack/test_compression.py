"""Deflate backends and CRC helpers: every backend's blocks must join into one stream any inflater reads."""

import os
import zlib

import pytest

from octopus_pack.pack import compression
from octopus_pack.pack.compression import CompressionLevel, deflater_for


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


SAMPLES = [b"", b"a", b"tiny text " * 102 + b"1234", b"just over " * 103, os.urandom(5000), b"octopus deploy " * 5000,
           os.urandom(300) * 400]  # 1024 bytes (the last one ISA-L takes at optimal) and 1030 bytes among them


@pytest.mark.parametrize("level", [CompressionLevel.FAST, CompressionLevel.OPTIMAL])
@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_whole_file_streams_inflate_with_stock_zlib(level, sample):
    deflater = deflater_for(level)
    data = SAMPLES[sample]
    assert zlib.decompress(bytes(deflater.compress_whole(data)), -15) == data
    assert zlib.decompress(bytes(deflater.one_shot()(data)), -15) == data


def test_optimal_uses_libdeflate_for_whole_files_and_zlib_ng_for_blocks():
    deflater = deflater_for(CompressionLevel.OPTIMAL)
    assert deflater.name == "libdeflate+zlib-ng"
    assert deflater.whole is not None and deflater.module.__name__.endswith("zlib_ng")


def test_without_libdeflate_optimal_falls_back_to_the_streaming_backend(monkeypatch):
    monkeypatch.setattr(compression, "_libdeflate", None)
    deflater = deflater_for(CompressionLevel.OPTIMAL)
    data = b"octopus deploy " * 5000
    assert deflater.whole is None and deflater.name == "zlib-ng"
    assert zlib.decompress(deflater.one_shot()(data), -15) == data


def test_reproducible_packages_never_use_isal_whose_output_can_vary():
    assert deflater_for(CompressionLevel.FAST).name == "libdeflate+zlib-ng"
    assert deflater_for(CompressionLevel.FAST, deterministic=False).name == "isal"
    assert deflater_for(CompressionLevel.OPTIMAL, deterministic=False).name == "libdeflate+zlib-ng"
