"""The zip writer: every archive must open in zipfile, unzip and 7z with the same bytes, modes and times."""

import os
import random
import shutil
import stat
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from octopus_pack.pack import zip_writer
from octopus_pack.pack.compression import CompressionLevel
from octopus_pack.pack.zip_writer import ArchiveEntry, write_zip

needs_7z = pytest.mark.skipif(shutil.which("7z") is None and os.environ.get("CI") != "true",
                              reason="7z (Debian p7zip-full) is not installed")


def text_bytes(size: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    words = [b"deploy", b"octopus", b"package", b"release", b"tentacle", b"\n", b"step", b"1.0.0"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


def make_files(folder: Path, contents: dict[str, bytes], mode: int = 0o644) -> list[ArchiveEntry]:
    entries = []
    for name, data in sorted(contents.items()):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
        entries.append(ArchiveEntry(name, len(data), path.stat().st_mtime, mode, path=str(path)))
    return entries


def write(path: Path, entries: list[ArchiveEntry], level=CompressionLevel.OPTIMAL, **options) -> Path:
    with open(path, "w+b") as out:
        write_zip(out, entries, level, **options)
    return path


@pytest.fixture
def mixed(tmp_path: Path) -> dict[str, bytes]:
    """Small and large, compressible and random, empty and Unicode-named files."""
    return {
        "empty.txt": b"",
        "small.txt": text_bytes(3000),
        "bin/random.dat": os.urandom(5000),
        "large/text.log": text_bytes(3 * zip_writer.BLOCK_SIZE + 12345, seed=1),
        "large/random.bin": os.urandom(2 * zip_writer.BLOCK_SIZE + 7),
        "ünïcödé/名前.txt": "héllo".encode(),
    }


@pytest.mark.parametrize("level", list(CompressionLevel))
def test_every_entry_reads_back_identical_in_zipfile(tmp_path, mixed, level):
    archive = write(tmp_path / "out.zip", make_files(tmp_path / "src", mixed), level)
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == sorted(mixed)
        for name, data in mixed.items():
            assert zf.read(name) == data


def test_unzip_and_7z_accept_the_archive_and_restore_permissions(tmp_path, mixed):
    entries = make_files(tmp_path / "src", mixed)
    script = tmp_path / "src" / "run.sh"
    script.write_bytes(b"#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    entries.append(ArchiveEntry("run.sh", 18, script.stat().st_mtime, 0o755, path=str(script)))
    archive = write(tmp_path / "out.zip", entries)
    subprocess.run(["unzip", "-q", str(archive), "-d", str(tmp_path / "unzipped")], check=True)
    for name, data in mixed.items():
        assert (tmp_path / "unzipped" / name).read_bytes() == data
    assert stat.S_IMODE((tmp_path / "unzipped" / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "unzipped" / "small.txt").stat().st_mode) == 0o644


@needs_7z
def test_7z_verifies_every_crc(tmp_path, mixed):
    archive = write(tmp_path / "out.zip", make_files(tmp_path / "src", mixed), CompressionLevel.FAST)
    done = subprocess.run(["7z", "t", str(archive)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    assert "Everything is Ok" in done.stdout


def test_large_random_files_are_stored_and_large_text_is_deflated(tmp_path, mixed):
    archive = write(tmp_path / "out.zip", make_files(tmp_path / "src", mixed))
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo("large/random.bin").compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("bin/random.dat").compress_type == zipfile.ZIP_STORED
        text = zf.getinfo("large/text.log")
        assert text.compress_type == zipfile.ZIP_DEFLATED
        assert text.compress_size < text.file_size / 2


def test_entries_have_no_data_descriptor_flags_utf8_only_for_unicode_and_unix_modes(tmp_path, mixed):
    archive = write(tmp_path / "out.zip", make_files(tmp_path / "src", mixed, mode=0o640))
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            assert info.flag_bits & 0x08 == 0
            assert bool(info.flag_bits & 0x800) == (not info.filename.isascii())
            assert info.create_system == 3
            assert info.external_attr >> 16 == stat.S_IFREG | 0o640
            assert not info.filename.endswith("/")


def test_same_input_gives_identical_bytes_whatever_the_thread_count(tmp_path, mixed):
    entries = make_files(tmp_path / "src", mixed)
    first = write(tmp_path / "one.zip", entries, fixed_time=1_700_000_000, workers=1).read_bytes()
    second = write(tmp_path / "two.zip", entries, fixed_time=1_700_000_000, workers=4).read_bytes()
    assert first == second


@pytest.mark.parametrize(("timestamp", "expected"), [
    (0, (1980, 1, 1, 0, 0, 0)),  # 1970: before DOS time starts
    (-10**12, (1980, 1, 1, 0, 0, 0)),
    (10**11, (2107, 12, 31, 23, 59, 58)),  # year 5138
    (1_700_000_001, (2023, 11, 14, 22, 13, 20)),  # DOS time has 2-second precision
])
def test_timestamps_are_clamped_to_what_dos_time_holds(tmp_path, timestamp, expected):
    entry = ArchiveEntry("a.txt", 1, timestamp, 0o644, data=b"a")
    archive = write(tmp_path / "out.zip", [entry], fixed_time=timestamp)
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo("a.txt").date_time == expected


def test_file_times_are_local_wall_clock_without_a_fixed_time(tmp_path):
    entry = ArchiveEntry("a.txt", 1, 1_700_000_000, 0o644, data=b"a")
    archive = write(tmp_path / "out.zip", [entry])
    local = time.localtime(1_700_000_000)
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo("a.txt").date_time == (*tuple(local)[:5], local.tm_sec // 2 * 2)


def test_zip64_records_are_written_when_offsets_and_sizes_overflow(tmp_path, mixed, monkeypatch):
    """4 GiB packages are too slow for a unit test: lower the threshold and let real readers check the records."""
    monkeypatch.setattr(zip_writer, "_ZIP64_LIMIT", 4096)
    archive = write(tmp_path / "out.zip", make_files(tmp_path / "src", mixed))
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        for name, data in mixed.items():
            assert zf.read(name) == data
    assert b"PK\x06\x06" in archive.read_bytes()[-200:]  # Zip64 end of central directory
    subprocess.run(["unzip", "-tq", str(archive)], check=True)


def test_more_than_65535_entries_use_zip64_counts(tmp_path):
    entries = [ArchiveEntry(f"d{i // 1000}/f{i}.txt", 1, 1_700_000_000, 0o644, data=b"x") for i in range(70_000)]
    archive = write(tmp_path / "out.zip", entries)
    with zipfile.ZipFile(archive) as zf:
        assert len(zf.infolist()) == 70_000
        assert zf.read("d69/f69999.txt") == b"x"


def test_an_empty_archive_is_a_valid_22_byte_zip(tmp_path):
    archive = write(tmp_path / "out.zip", [])
    assert archive.stat().st_size == 22
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist() == []


def test_a_file_that_shrinks_while_packing_is_reported(tmp_path):
    path = tmp_path / "big.log"
    path.write_bytes(text_bytes(3 * zip_writer.BLOCK_SIZE))
    entry = ArchiveEntry("big.log", 5 * zip_writer.BLOCK_SIZE, path.stat().st_mtime, 0o644, path=str(path))
    with pytest.raises(zip_writer.PipeError, match="changed size while it was being packed"):
        write(tmp_path / "out.zip", [entry])


def test_many_small_files_give_identical_bytes_whatever_the_thread_count(tmp_path, mixed):
    """Batches of small files go to libdeflate, large files to zlib-ng blocks: both must be deterministic."""
    rng = random.Random(3)
    files = {f"tree/{i // 50}/f{i}.{'txt' if i % 3 else 'bin'}": text_bytes(rng.randint(0, 9000), seed=i)
             if i % 3 else rng.randbytes(rng.randint(0, 3000)) for i in range(700)}
    entries = make_files(tmp_path / "src", {**mixed, **files})
    archives = [write(tmp_path / f"{workers}.zip", entries, fixed_time=1_700_000_000, workers=workers).read_bytes()
                for workers in (1, 2, 4)]
    assert archives[0] == archives[1] == archives[2]
    with zipfile.ZipFile(tmp_path / "2.zip") as zf:
        assert all(zf.read(name) == data for name, data in {**mixed, **files}.items())


def test_entry_times_stay_right_with_many_different_timestamps(tmp_path):
    stamps = [1_000_000_000 + 86_400 * day for day in range(6)] * 2
    entries = [ArchiveEntry(f"f{i}.txt", 1, stamp, 0o644, data=b"x") for i, stamp in enumerate(stamps)]
    with zipfile.ZipFile(write(tmp_path / "out.zip", entries)) as zf:
        for i, stamp in enumerate(stamps):
            local = time.localtime(stamp)
            assert zf.getinfo(f"f{i}.txt").date_time == (*tuple(local)[:5], local.tm_sec // 2 * 2)


@pytest.mark.parametrize("level", [CompressionLevel.FAST, CompressionLevel.OPTIMAL])
def test_packing_the_same_small_files_again_gives_the_same_bytes(tmp_path, level):
    """Run after run, two threads: a compressor whose output drifts (ISA-L did, on small files) fails this."""
    rng = random.Random(11)
    words = ["module", "exports", "require", "function", "return", "const", "value", "index", "path", "utils"]
    files = {f"pkg{i // 40}/lib/f{i}.js": " ".join(rng.choice(words) + str(rng.randint(0, 99))
                                                  for _ in range(rng.randint(8, 160))).encode()
             for i in range(4000)}
    entries = make_files(tmp_path / "src", files)
    first = write(tmp_path / "0.zip", entries, level, fixed_time=1_700_000_000, workers=2).read_bytes()
    for run in range(1, 4):
        assert write(tmp_path / f"{run}.zip", entries, level, fixed_time=1_700_000_000, workers=2).read_bytes() == first


def test_large_generated_entries_between_large_results_neither_block_nor_reorder(tmp_path):
    """Generated data travels to a worker inside its unit: units larger than a pipe's buffer, sent while the
    workers hand back whole-MiB blocks of random data, must neither wait on each other forever nor reorder."""
    contents = {f"big/{i}.bin": os.urandom(3 * zip_writer.BLOCK_SIZE + i) for i in range(3)}
    entries = make_files(tmp_path / "src", contents)
    generated = {f"generated/{i}.txt": text_bytes(zip_writer.BLOCK_SIZE - i, seed=i) for i in range(6)}
    mixed_order = [entries[0], *[ArchiveEntry(name, len(data), 1_700_000_000, 0o644, data=data)
                                 for name, data in generated.items()], entries[1], entries[2]]
    archives = [write(tmp_path / f"{workers}.zip", mixed_order, fixed_time=1_700_000_000, workers=workers)
                for workers in (1, 2)]
    assert archives[0].read_bytes() == archives[1].read_bytes()
    with zipfile.ZipFile(archives[1]) as zf:
        assert zf.namelist() == [entry.name for entry in mixed_order]
        assert all(zf.read(name) == data for name, data in {**contents, **generated}.items())
