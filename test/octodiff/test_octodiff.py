"""Octodiff in Python: the C# project's own vectors, agreement with a byte-at-a-time model, and hostile input."""

import base64
import contextlib
import hashlib
import io
import json
import os
import random
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures_shared import SHARED_DIR, shared_missing
from octodiff_tools import (
    CALCULATE,
    ROTATE,
    ChunkSignature,
    apply_delta,
    build_signature,
    chunk_checksums,
    chunks_of,
    signature_file,
)
from octopus_pack.octodiff import DeltaWriter, OctodiffError, Signature, build_delta, read_signature
from octopus_pack.octodiff import delta as delta_module
from octopus_pack.octodiff import matching as matching_module
from octopus_pack.octodiff.checksums import V1, V2, WindowKeys
from octopus_pack.octodiff.delta import search_ranges
from octopus_pack.octodiff.matching import ChunkTable

VECTOR_DIR = SHARED_DIR / "data"
VECTOR_FILE = VECTOR_DIR / "octodiff_vectors.json"


def _load_vectors() -> dict | None:
    if VECTOR_FILE.is_file():
        return json.loads(VECTOR_FILE.read_text())
    return None


VECTORS = _load_vectors()


@pytest.fixture
def vectors() -> dict:
    """The extracted C# test vectors: absent from a fresh clone, required by .ci/run."""
    if VECTORS is None:
        shared_missing(VECTOR_FILE)
    return VECTORS


def vector_names(section: str) -> list[str]:
    return list(VECTORS[section]) if VECTORS else ["(vectors missing)"]


def sample_data() -> bytes:
    """The C# fixtures' TestData(): a 520-byte certificate (hard-coded when the vectors are absent)."""
    return base64.b64decode(VECTORS["testdata_base64"]) if VECTORS else bytes(range(256)) * 2 + bytes(8)


def generated(size: int) -> bytes:
    """GenerateTestData(size): TestData repeated and cut to size."""
    data = sample_data()
    return (data * (size // len(data) + 1))[:size]


def edited(data: bytes, edits: dict[int, int]) -> bytes:
    changed = bytearray(data)
    for index, value in edits.items():
        changed[index] = value
    return bytes(changed)


def signature_of(basis: bytes, chunk_size: int = 2048, rolling: str = V1) -> bytes:
    return build_signature(io.BytesIO(basis), chunk_size, rolling)


def delta_of(tmp_path: Path, new: bytes, signature: bytes | Signature) -> bytes:
    new_file = tmp_path / "new.bin"
    new_file.write_bytes(new)
    out = io.BytesIO()
    written = build_delta(new_file, signature, out, new_file_sha1=hashlib.sha1(new).digest())
    assert written == len(out.getvalue())
    return out.getvalue()


def applied(basis: bytes, delta: bytes) -> bytes:
    out = io.BytesIO()
    apply_delta(io.BytesIO(basis), io.BytesIO(delta), out)
    return out.getvalue()


# --------------------------------------------------------------------------- the C# vectors

CHECKSUM_SUBJECTS = {
    "td[0:100]": lambda: sample_data()[0:100],
    "td[1:101]": lambda: sample_data()[1:101],
    "td[2:102]": lambda: sample_data()[2:102],
    "td[93:193]": lambda: sample_data()[93:193],
    "td": sample_data,
    "gen(102400)": lambda: generated(102400),
}

SIGNATURE_CASES = {
    "td,chunk=2048": (sample_data, 2048, V1),
    "td,chunk=128": (sample_data, 128, V1),
    "td,chunk=31744": (sample_data, 31744, V1),
    "gen(102400),chunk=2048": (lambda: generated(102400), 2048, V1),
    "gen(102400),chunk=31744": (lambda: generated(102400), 31744, V1),
    "td,chunk=2048,Adler32V2": (sample_data, 2048, V2),
}

THREE_BYTES = {32: 0xAA, 33: 0xAB, 34: 0xAC}
DELTA_CASES = {  # name: (basis, chunk size, new file)
    "same input (sig td,2048)": lambda: (sample_data(), 2048, sample_data()),
    "new=td vs empty-file sig": lambda: (b"", 2048, sample_data()),
    "td with bytes[32..34]=aa,ab,ac (sig td,2048)": lambda: (sample_data(), 2048, edited(sample_data(), THREE_BYTES)),
    "same edit (sig td,128)": lambda: (sample_data(), 128, edited(sample_data(), THREE_BYTES)),
    "0xaa+td (sig td,128)": lambda: (sample_data(), 128, b"\xaa" + sample_data()),
    "gen(131072) edit 32..34 (sig 2048)": lambda: (generated(131072), 2048, edited(generated(131072), THREE_BYTES)),
    "gen(131072) edits 32..34 and [32000]=aa,[33000]=ab,[34000]=ac (sig 2048)": lambda: (
        generated(131072),
        2048,
        edited(generated(131072), {**THREE_BYTES, 32000: 0xAA, 33000: 0xAB, 34000: 0xAC}),
    ),
}


def test_every_vector_has_a_case(vectors: dict) -> None:
    assert set(vectors["adler32_v1"]["calc"]) == set(vectors["adler32_v2"]["calc"]) == set(CHECKSUM_SUBJECTS)
    assert set(vectors["signatures"]) == set(SIGNATURE_CASES)
    assert set(vectors["deltas"]) == set(DELTA_CASES)
    assert set(vectors["writer"]) == set(WRITER_CASES)


def test_testdata_bin_is_the_vectors_test_data(vectors: dict) -> None:
    assert (VECTOR_DIR / "testdata.bin").read_bytes() == sample_data()
    assert len(sample_data()) == 520


@pytest.mark.parametrize("algorithm", [V1, V2])
def test_checksum_calculate_vectors(vectors: dict, algorithm: str) -> None:
    section = "adler32_v1" if algorithm == V1 else "adler32_v2"
    for subject, expected in vectors[section]["calc"].items():
        assert CALCULATE[algorithm](CHECKSUM_SUBJECTS[subject]()) == expected, subject


@pytest.mark.parametrize("algorithm", [V1, V2])
def test_checksum_rotate_vectors(vectors: dict, algorithm: str) -> None:
    """The C# rotate vectors never go negative, so they hold for both variants."""
    for checksum, remove, add, windows, expected in vectors["adler32_v1"]["rotate"]:
        assert [ROTATE[algorithm](checksum, remove, add, window) for window in windows] == expected


@pytest.mark.parametrize("name", vector_names("signatures"))
def test_signature_vectors(vectors: dict, name: str) -> None:
    make_basis, chunk_size, rolling = SIGNATURE_CASES[name]
    expected = bytes.fromhex(vectors["signatures"][name])
    assert signature_of(make_basis(), chunk_size, rolling) == expected
    assert signature_file(read_signature(expected)) == expected


def test_signature_reader_vector(vectors: dict) -> None:
    """SignatureReaderFixture: the 128-byte-chunk signature of TestData has five chunks, the last 8 bytes long."""
    signature = read_signature(bytes.fromhex(vectors["signatures"]["td,chunk=128"]))
    assert (signature.hash_algorithm, signature.rolling_algorithm) == ("SHA1", "Adler32")
    assert [chunk.start_offset for chunk in chunks_of(signature)] == [0, 128, 256, 384, 512]
    assert [chunk.length for chunk in chunks_of(signature)] == [128, 128, 128, 128, 8]
    last = chunks_of(signature)[-1]
    assert last.rolling_checksum == 210109066
    assert last.hash.hex().startswith("21d4023a")
    assert last.hash == hashlib.sha1(sample_data()[512:]).digest()


@pytest.mark.parametrize("name", vector_names("deltas"))
def test_delta_vectors(vectors: dict, tmp_path: Path, name: str) -> None:
    basis, chunk_size, new = DELTA_CASES[name]()
    expected = bytes.fromhex(vectors["deltas"][name])
    assert delta_of(tmp_path, new, signature_of(basis, chunk_size)) == expected
    assert applied(basis, expected) == new


def test_reader_inputs_rebuild_their_files(vectors: dict) -> None:
    """BinaryDeltaReaderFixture's inputs are the builder's deltas; each must apply to its basis."""
    by_delta = {bytes.fromhex(vectors["deltas"][name]): case for name, case in DELTA_CASES.items()}
    assert len(vectors["reader_inputs"]) == 6
    for reader_input in vectors["reader_inputs"]:
        basis, _, new = by_delta[bytes.fromhex(reader_input)]()
        assert applied(basis, bytes.fromhex(reader_input)) == new


def test_copy_of_a_whole_file_decodes_as_in_the_reader_fixture(vectors: dict) -> None:
    delta = bytes.fromhex(vectors["deltas"]["0xaa+td (sig td,128)"])
    assert delta[42:] == b"\x80" + struct.pack("<q", 1) + b"\xaa" + b"\x60" + struct.pack("<qq", 0, 520)


def _writer_output(actions) -> bytes:
    out = io.BytesIO()
    writer = DeltaWriter(out)
    actions(writer)
    writer.finish()
    assert writer.bytes_written == len(out.getvalue())
    return out.getvalue()


WRITER_CASES = {
    "header(SHA1, gen(20))": lambda writer: writer.write_header(generated(20)),
    "copy(315412,9874563)": lambda writer: writer.write_copy(315412, 9874563),
    "copy 0/128,128/128,256/128,385/128 merged": lambda writer: [
        writer.write_copy(start, 128) for start in (0, 128, 256, 385)
    ],
    "copy(0,128) data(gen(1024)[500:628]) copy(128,128)": lambda writer: (
        writer.write_copy(0, 128),
        writer.write_data(128, [generated(1024)[500:628]]),
        writer.write_copy(128, 128),
    ),
    "data(gen(1024)[337:852])": lambda writer: writer.write_data(515, [generated(1024)[337:852]]),
}


@pytest.mark.parametrize("name", vector_names("writer"))
def test_writer_vectors(vectors: dict, name: str) -> None:
    assert _writer_output(WRITER_CASES[name]) == bytes.fromhex(vectors["writer"][name])


# --------------------------------------------------------------------------- checksums


@pytest.mark.parametrize("algorithm", [V1, V2])
def test_rotation_agrees_with_calculation_everywhere(algorithm: str) -> None:
    """Chained rotation stays exact, including V2's negative intermediates that the C# code gets wrong."""
    rng = random.Random(7)
    data = rng.randbytes(3000)
    for window in (1, 128, 2048):
        checksum = CALCULATE[algorithm](data[:window])
        for start in range(1, len(data) - window + 1):
            checksum = ROTATE[algorithm](checksum, data[start - 1], data[start + window - 1], window)
            if start % 97 == 0 or start == len(data) - window:
                assert checksum == CALCULATE[algorithm](data[start : start + window]), (window, start)


@pytest.mark.parametrize("algorithm", [V1, V2])
@pytest.mark.parametrize("window", [128, 2047, 31744])
def test_vectorised_window_keys_match_scalar_checksums(algorithm: str, window: int) -> None:
    rng = random.Random(window)
    data = np.frombuffer(rng.randbytes(window + 5000) + b"\xff" * (window + 300), dtype=np.uint8)
    count = len(data) - window + 1 - 200
    start = 150
    keys = WindowKeys(algorithm, window, count)
    computed = keys.compute(data, start, count).copy()
    for offset in [0, 1, 2, count // 2, count - 2, count - 1, *rng.sample(range(count), 40)]:
        expected = CALCULATE[algorithm](data[start + offset : start + offset + window].tobytes())
        assert computed[offset] == keys.keys_for_checksums(np.array([expected], dtype=np.uint32))[0], offset


@pytest.mark.parametrize("algorithm", [V1, V2])
def test_chunk_checksums_match_scalar_checksums(algorithm: str) -> None:
    rng = random.Random(3)
    for length in (128, 31744):
        rows = np.frombuffer(rng.randbytes(length * 3), dtype=np.uint8).reshape(3, length)
        expected = [CALCULATE[algorithm](row.tobytes()) for row in rows]
        assert chunk_checksums(rows, algorithm).tolist() == expected
        all_ff = np.full((1, length), 255, dtype=np.uint8)
        assert chunk_checksums(all_ff, algorithm).tolist() == [CALCULATE[algorithm](all_ff.tobytes())]


# --------------------------------------------------------------------------- agreement with a byte-at-a-time model


def reference_delta(new: bytes, signature: Signature, read_buffer_size: int) -> bytes:
    """Octodiff's DeltaBuilder, one byte at a time, with an exact V2 rotation; written from the spec."""
    calculate, rotate = CALCULATE[signature.rolling_algorithm], ROTATE[signature.rolling_algorithm]
    ordered = sorted(chunks_of(signature), key=lambda chunk: (chunk.rolling_checksum, chunk.start_offset))
    first_with_checksum: dict[int, int] = {}
    for index, chunk in enumerate(ordered):
        first_with_checksum.setdefault(chunk.rolling_checksum, index)
    longest = max((chunk.length for chunk in ordered), default=0)
    shortest = min((chunk.length for chunk in ordered), default=1 << 31)
    out = io.BytesIO()
    writer = DeltaWriter(out)
    writer.write_header(hashlib.sha1(new).digest())
    last_match = 0
    buffer_start = 0
    while True:
        buffer = new[buffer_start : buffer_start + read_buffer_size]
        read = len(buffer)
        window, checksum = longest, 0
        for i in range(read - shortest + 1):
            if read - i < longest:
                window = shortest
            if i == 0 or read - i < longest:
                checksum = calculate(buffer[i : i + window])
            else:
                checksum = rotate(checksum, buffer[i - 1], buffer[i + window - 1], window)
            position = buffer_start + i
            if position < last_match or checksum not in first_with_checksum:
                continue
            digest = hashlib.sha1(buffer[i : i + window]).digest()
            index = first_with_checksum[checksum]
            while index < len(ordered) and ordered[index].rolling_checksum == checksum:
                if ordered[index].hash == digest:
                    if position > last_match:
                        writer.write_data(position - last_match, [new[last_match:position]])
                    writer.write_copy(ordered[index].start_offset, ordered[index].length)
                    last_match = position + window
                    break
                index += 1
        if read < read_buffer_size:
            break
        buffer_start += read - longest + 1
    if last_match != len(new):
        writer.write_data(len(new) - last_match, [new[last_match:]])
    writer.finish()
    return out.getvalue()


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Shrink every buffer and block so small files cross all their boundaries; returns the read buffer size."""
    monkeypatch.setattr(matching_module, "SCAN_BLOCK_SIZE", 64)
    monkeypatch.setattr(delta_module, "FIRST_SCAN_SIZE", 16)
    monkeypatch.setattr(delta_module, "MAX_SCAN_SIZE", 512)
    monkeypatch.setattr(delta_module, "READ_BUFFER_SIZE", 1000)
    monkeypatch.setattr(delta_module, "RELEASE_INTERVAL", 4096)
    return 1000


def mutate(rng: random.Random, data: bytes, boundaries: list[int]) -> bytes:
    """Insertions, deletions and overwrites, half of them at or next to the given boundaries."""
    result = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        if rng.random() < 0.5 and boundaries:
            at = min(len(result), max(0, rng.choice(boundaries) + rng.choice((-1, 0, 1))))
        else:
            at = rng.randrange(len(result) + 1)
        kind = rng.choice(("insert", "delete", "overwrite"))
        size = rng.choice((1, 3, 127, 128, 129, 700))
        if kind == "insert":
            result[at:at] = rng.randbytes(size)
        elif kind == "delete":
            del result[at : at + size]
        else:
            result[at : at + size] = rng.randbytes(size)
    return bytes(result)


def random_package(rng: random.Random, size: int) -> bytes:
    """Random bytes with repeated runs, so the basis has duplicate chunks and low-entropy stretches."""
    parts = bytearray()
    while len(parts) < size:
        choice = rng.random()
        if choice < 0.6:
            parts += rng.randbytes(rng.randrange(1, 900))
        elif choice < 0.8:
            parts += bytes([rng.randrange(3)]) * rng.randrange(1, 600)
        elif parts:
            start = rng.randrange(len(parts))
            parts += parts[start : start + rng.randrange(1, 1500)]
    return bytes(parts[:size])


@pytest.mark.parametrize("rolling", [V1, V2])
@pytest.mark.parametrize("seed", range(12))
def test_delta_equals_the_byte_at_a_time_model(small_blocks: int, tmp_path: Path, rolling: str, seed: int) -> None:
    rng = random.Random(seed * 31 + (rolling == V2))
    chunk_size = rng.choice((128, 131, 200, 256))
    basis = random_package(rng, rng.randrange(0, 9000))
    boundaries = [*range(0, len(basis), chunk_size), *range(0, len(basis), small_blocks - chunk_size + 1)]
    new = mutate(rng, basis, boundaries) if rng.random() < 0.85 else random_package(rng, 5000)
    signature = read_signature(signature_of(basis, chunk_size, rolling))
    delta = delta_of(tmp_path, new, signature)
    assert delta == reference_delta(new, signature, small_blocks)
    assert applied(basis, delta) == new


def test_delta_at_full_size_constants_equals_the_model(tmp_path: Path) -> None:
    """A file a little over one 4 MiB read buffer, with the short final chunk copied into the middle."""
    rng = random.Random(11)
    basis = rng.randbytes(2048 * 3 + 700)
    tail = basis[-700:]
    buffer_tail_start = delta_module.READ_BUFFER_SIZE - 2048 + 1
    new = bytearray(rng.randbytes(delta_module.READ_BUFFER_SIZE + 5000))
    new[buffer_tail_start + 10 : buffer_tail_start + 710] = tail  # matchable only as a short window
    new[100:2148] = basis[:2048]
    new[-700:] = tail
    signature = read_signature(signature_of(basis))
    delta = delta_of(tmp_path, bytes(new), signature)
    assert delta == reference_delta(bytes(new), signature, delta_module.READ_BUFFER_SIZE)
    assert applied(basis, delta) == bytes(new)


@pytest.mark.parametrize("new_size", [1000, 1701, 2402, 1999])
def test_files_ending_on_a_read_buffer_boundary(small_blocks: int, tmp_path: Path, new_size: int) -> None:
    """Octodiff re-reads the tail of a buffer that ends exactly at the end of the file."""
    rng = random.Random(new_size)
    basis = rng.randbytes(300 * 2 + 17)
    tail = basis[-17:]
    new = bytearray(rng.randbytes(new_size))
    for at in (new_size - 17, new_size - 100, new_size - 299 - 17, 701, 650):
        new[at : at + 17] = tail
    new[:300] = basis[:300]
    signature = read_signature(signature_of(basis, 300))
    delta = delta_of(tmp_path, bytes(new), signature)
    assert delta == reference_delta(bytes(new), signature, small_blocks)
    assert applied(basis, delta) == bytes(new)


@settings(max_examples=60, deadline=None)
@given(
    basis=st.binary(min_size=0, max_size=1500),
    cuts=st.lists(st.tuples(st.integers(0, 1600), st.integers(0, 300), st.binary(max_size=200)), max_size=4),
    chunk_size=st.sampled_from([128, 129, 255]),
    rolling=st.sampled_from([V1, V2]),
)
def test_delta_model_agreement_on_generated_edits(basis, cuts, chunk_size, rolling) -> None:
    new = bytearray(basis)
    for at, removed, inserted in cuts:
        at = min(at, len(new))
        new[at : at + removed] = inserted
    new = bytes(new)
    signature = read_signature(signature_of(basis, chunk_size, rolling))
    out = io.BytesIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matching_module, "SCAN_BLOCK_SIZE", 32)
        patch.setattr(delta_module, "FIRST_SCAN_SIZE", 8)
        patch.setattr(delta_module, "MAX_SCAN_SIZE", 128)
        patch.setattr(delta_module, "READ_BUFFER_SIZE", 600)
        file = _scratch_file(new)
        try:
            build_delta(file, signature, out, new_file_sha1=hashlib.sha1(new).digest())
        finally:
            file.unlink()
    assert out.getvalue() == reference_delta(new, signature, 600)
    assert applied(basis, out.getvalue()) == new


def _scratch_file(content: bytes) -> Path:
    """Hypothesis runs many examples per test, so it cannot use the per-test tmp_path."""
    handle, name = tempfile.mkstemp(prefix="octodiff-")
    with os.fdopen(handle, "wb") as file:
        file.write(content)
    return Path(name)


def test_without_worker_threads_the_delta_is_the_same(small_blocks: int, tmp_path: Path, monkeypatch) -> None:
    rng = random.Random(5)
    basis = random_package(rng, 20000)
    new = mutate(rng, basis, [])
    signature = signature_of(basis, 128)
    with_workers = delta_of(tmp_path, new, signature)
    monkeypatch.setattr(delta_module, "USE_WORKER_THREADS", False)
    assert delta_of(tmp_path, new, signature) == with_workers
    assert applied(basis, with_workers) == new


def test_an_error_inside_the_search_is_not_hidden_by_the_mapping(tmp_path: Path, monkeypatch) -> None:
    def broken(*_args, **_kwargs):
        raise RuntimeError("scan failed")

    monkeypatch.setattr(WindowKeys, "compute", broken)
    basis = random.Random(6).randbytes(10_000)
    with pytest.raises(RuntimeError, match="scan failed"):
        delta_of(tmp_path, b"x" + basis, signature_of(basis, 128))


def _octodiff_examination_order(file_size: int, longest: int, shortest: int, buffer_size: int) -> list:
    """(position, window) in the order Octodiff's buffer loop tries them, duplicates dropped."""
    seen, order = set(), []
    start = 0
    while True:
        read = min(buffer_size, file_size - start)
        window = longest
        for i in range(read - shortest + 1):
            if read - i < longest:
                window = shortest
            if (start + i, window) not in seen:
                seen.add((start + i, window))
                order.append((start + i, window))
        if read < buffer_size:
            return order
        start += read - longest + 1


@pytest.mark.parametrize(
    ("file_size", "longest", "shortest"),
    [(0, 128, 128), (50, 128, 60), (999, 300, 300), (1000, 300, 17), (2399, 300, 17), (5000, 128, 1), (2101, 700, 699)],
)
def test_search_ranges_follow_octodiffs_buffer_loop(monkeypatch, file_size, longest, shortest) -> None:
    monkeypatch.setattr(delta_module, "READ_BUFFER_SIZE", 1000)
    expanded = [
        (position, window)
        for first, last, window in search_ranges(file_size, longest, shortest)
        for position in range(first, last + 1)
    ]
    assert expanded == _octodiff_examination_order(file_size, longest, shortest, 1000)


# --------------------------------------------------------------------------- round trips and edge cases


def test_large_unchanged_regions_become_one_copy(tmp_path: Path) -> None:
    rng = random.Random(2)
    basis = rng.randbytes(300_000)
    new = basis[:100_000] + b"inserted" + basis[100_000:]
    delta = delta_of(tmp_path, new, signature_of(basis))
    # DATA covering the insertion plus the rest of its chunk, then COPYs of everything else.
    assert len(delta) < 42 + 17 * 3 + 9 + 2048 + 8
    assert applied(basis, delta) == new


def test_long_runs_of_one_chunk_are_followed_cheaply(tmp_path: Path, monkeypatch) -> None:
    """16 MiB of zeros against a basis with one zero chunk: matched chunk by chunk, not block by block.

    The cost is counted, not timed: the bytes whose rolling checksums were scanned stay a few kilobytes."""
    rng = random.Random(12)
    basis = rng.randbytes(4096) + bytes(2048) + rng.randbytes(5000)
    new = rng.randbytes(100) + bytes(16 * 1024 * 1024) + basis[:3000]
    scanned: list[int] = []
    candidates = matching_module.WindowMatcher.candidates

    def counted(matcher, data, start: int, stop: int):
        scanned.append(stop - start)
        return candidates(matcher, data, start, stop)

    monkeypatch.setattr(matching_module.WindowMatcher, "candidates", counted)
    delta = delta_of(tmp_path, new, signature_of(basis))
    assert sum(scanned) < 64 * 1024
    # One 17-byte COPY a chunk: repeats of one chunk are not adjacent basis ranges, so they do not merge.
    assert len(delta) < 42 + 109 + 17 * (len(new) // 2048 + 2) + 3000
    assert applied(basis, delta) == new


def test_zero_runs_agree_with_the_model(small_blocks: int, tmp_path: Path) -> None:
    rng = random.Random(21)
    basis = rng.randbytes(700) + bytes(900) + rng.randbytes(300) + bytes(400)
    new = bytes(50) + basis[650:] + bytes(2000) + rng.randbytes(10) + bytes(333) + basis[:700]
    signature = read_signature(signature_of(basis, 128))
    delta = delta_of(tmp_path, new, signature)
    assert delta == reference_delta(new, signature, small_blocks)
    assert applied(basis, delta) == new


def test_round_trip_with_release_of_mapped_pages(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(delta_module, "RELEASE_INTERVAL", 4096)
    rng = random.Random(8)
    basis = rng.randbytes(200_000)
    new = rng.randbytes(50_000) + basis[10_000:150_000] + rng.randbytes(30_000)
    delta = delta_of(tmp_path, new, signature_of(basis, 128))
    assert applied(basis, delta) == new
    assert len(delta) < 90_000


def test_empty_new_file_gives_a_header_only_delta(tmp_path: Path) -> None:
    delta = delta_of(tmp_path, b"", signature_of(b"some basis"))
    assert len(delta) == 42
    assert delta[19:39] == hashlib.sha1(b"").digest()
    assert applied(b"some basis", delta) == b""


def test_the_header_carries_the_callers_sha1_and_the_file_is_not_hashed_again(tmp_path: Path) -> None:
    """The pipe passes the SHA-1 it computed while writing the package; a wrong one shows in the header."""
    basis = random.Random(14).randbytes(10_000)
    new_file = tmp_path / "new.bin"
    new_file.write_bytes(basis[:5000] + b"changed" + basis[5000:])
    given = bytes(range(20))
    out = io.BytesIO()
    build_delta(new_file, signature_of(basis, 128), out, new_file_sha1=given)
    assert out.getvalue()[19:39] == given
    with pytest.raises(OctodiffError, match="expects " + given.hex()):
        applied(basis, out.getvalue())
    with pytest.raises(OctodiffError, match="20 bytes, not 40"):
        build_delta(new_file, signature_of(basis, 128), io.BytesIO(), new_file_sha1=given.hex().encode())


def test_empty_basis_gives_one_data_command(tmp_path: Path) -> None:
    signature = signature_of(b"")
    assert chunks_of(read_signature(signature)) == ()
    delta = delta_of(tmp_path, b"new content", signature)
    assert delta[42:] == b"\x80" + struct.pack("<q", 11) + b"new content"
    assert applied(b"", delta) == b"new content"
    assert applied(b"", delta_of(tmp_path, b"", signature)) == b""


def test_new_file_shorter_than_a_chunk_can_still_copy_the_short_last_chunk(tmp_path: Path) -> None:
    basis = random.Random(4).randbytes(2048 + 300)
    new = b"xy" + basis[2048:]
    delta = delta_of(tmp_path, new, signature_of(basis))
    assert delta[42:] == b"\x80" + struct.pack("<q", 2) + b"xy" + b"\x60" + struct.pack("<qq", 2048, 300)


def test_a_signature_object_and_its_bytes_give_the_same_delta(tmp_path: Path) -> None:
    basis = generated(50_000)
    new = edited(basis, {10: 0, 20_000: 1})
    signature = signature_of(basis, 256)
    assert delta_of(tmp_path, new, read_signature(signature)) == delta_of(tmp_path, new, signature)


def test_duplicate_chunks_copy_from_the_first_and_signatures_expose_their_chunks() -> None:
    basis = b"A" * 512 + b"B" * 128
    signature = read_signature(signature_of(basis, 128))
    first = chunks_of(signature)[0]
    assert chunks_of(signature)[1] == ChunkSignature(128, 128, first.rolling_checksum, first.hash)
    assert len(chunks_of(signature)) == 5


def test_chunks_whose_hashes_only_share_a_prefix_are_not_duplicates() -> None:
    first_hash = bytes(8) + b"first" + bytes(7)
    second_hash = bytes(8) + b"other" + bytes(7)
    records = b"".join(struct.pack("<hI20s", 128, 1, digest) for digest in (first_hash, second_hash, first_hash))
    table = ChunkTable(Signature("SHA1", V1, records))
    assert list(table.copy_offsets) == [0, 128, 0]


def test_v2_deltas_find_matches_that_csharp_misses(tmp_path: Path) -> None:
    """With exact V2 rolling, an identical file is all COPY (C# would write nearly all of it as DATA)."""
    data = random.Random(9).randbytes(100_000)
    delta = delta_of(tmp_path, data, signature_of(data, 2048, V2))
    assert delta[42:] == b"\x60" + struct.pack("<qq", 0, 100_000)


@pytest.mark.parametrize(("chunk_size", "rolling"), [(127, V1), (31745, V1), (2048, "Adler64")])
def test_build_signature_rejects_what_octodiff_rejects(chunk_size: int, rolling: str) -> None:
    with pytest.raises(OctodiffError):
        build_signature(io.BytesIO(b"abc"), chunk_size, rolling)


def test_build_signature_reads_short_reads_as_one_stream() -> None:
    class Trickle(io.RawIOBase):
        """Returns at most 100 bytes a call, as pipes and sockets may."""

        def __init__(self, data: bytes) -> None:
            self.source = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            piece = self.source.read(min(100, len(buffer)))
            buffer[: len(piece)] = piece
            return len(piece)

    data = random.Random(1).randbytes(10_000)
    assert build_signature(Trickle(data), 128) == signature_of(data, 128)


# --------------------------------------------------------------------------- malformed input


def signature_bytes(hash_name: bytes = b"\x04SHA1", rolling: bytes = b"\x07Adler32", body: bytes = b"") -> bytes:
    return b"OCTOSIG\x01" + hash_name + rolling + b">>>" + body


GOOD_RECORD = struct.pack("<hI20s", 128, 1, bytes(20))

BAD_SIGNATURES = {
    "empty": (b"", "truncated"),
    "wrong magic": (b"OCTODELTA\x01", "not an Octodiff signature"),
    "newer version": (b"OCTOSIG\x02" + signature_bytes()[8:], "version 2"),
    "unknown hash": (signature_bytes(hash_name=b"\x03MD5"), "'MD5'"),
    "unknown rolling": (signature_bytes(rolling=b"\x05Crc32"), "'Crc32'"),
    "no marker": (signature_bytes()[:-3] + b"<<<", "'>>>'"),
    "partial record": (signature_bytes(body=GOOD_RECORD[:-1]), "data missing"),
    "zero-length chunk": (signature_bytes(body=struct.pack("<hI20s", 0, 1, bytes(20))), "must be positive"),
    "negative chunk": (signature_bytes(body=struct.pack("<hI20s", -5, 1, bytes(20))), "must be positive"),
    "name not UTF-8": (signature_bytes(hash_name=b"\x02\xff\xfe"), "not UTF-8"),
    "endless length prefix": (b"OCTOSIG\x01" + b"\xff" * 6, "length prefix"),
    "huge name": (b"OCTOSIG\x01" + b"\xff\xff\xff\x7f", "at most 255"),
    "truncated name": (b"OCTOSIG\x01\x04SH", "truncated"),
}


@pytest.mark.parametrize("name", BAD_SIGNATURES)
def test_malformed_signatures_are_rejected_clearly(name: str) -> None:
    data, message = BAD_SIGNATURES[name]
    with pytest.raises(OctodiffError, match=message.replace("(", r"\(")) as raised:
        read_signature(data)
    assert "\n" not in str(raised.value)


def test_two_byte_name_length_prefix_is_decoded() -> None:
    """A 130-byte name needs a two-byte ULEB128 prefix; the error shows the whole name was read."""
    name = "S" * 130
    with pytest.raises(OctodiffError, match="'" + name + "'"):
        read_signature(signature_bytes(hash_name=bytes([0x82, 0x01]) + name.encode()))


def test_build_delta_rejects_a_bad_signature(tmp_path: Path) -> None:
    with pytest.raises(OctodiffError):
        delta_of(tmp_path, b"data", b"OCTOSIG\x01garbage")
    with pytest.raises(OctodiffError, match="Adler64"):
        Signature("SHA1", "Adler64", b"")
    with pytest.raises(OctodiffError, match="data missing"):
        Signature("SHA1", V1, GOOD_RECORD[:-1])


BASIS = bytes(range(256)) * 4
GOOD_HASH = hashlib.sha1(BASIS[:10]).digest()


def delta_bytes(commands: bytes, expected_hash: bytes = GOOD_HASH, header: bytes | None = None) -> bytes:
    if header is None:
        header = b"OCTODELTA\x01\x04SHA1" + struct.pack("<i", 20) + expected_hash + b">>>"
    return header + commands


def copy(start: int, length: int) -> bytes:
    return b"\x60" + struct.pack("<qq", start, length)


def data(payload: bytes, length: int | None = None) -> bytes:
    return b"\x80" + struct.pack("<q", len(payload) if length is None else length) + payload


BAD_DELTAS = {
    "empty": (b"", "truncated"),
    "wrong magic": (b"OCTOSIG\x01\x04SHA1>>>", "not an Octodiff delta"),
    "newer version": (b"OCTODELTA\x02", "version 2"),
    "unknown hash": (b"OCTODELTA\x01\x03MD5", "'MD5'"),
    "wrong hash length": (b"OCTODELTA\x01\x04SHA1" + struct.pack("<i", 32) + bytes(32) + b">>>", "32-byte"),
    "no marker": (delta_bytes(b"")[:-3] + b"!!!", "'>>>'"),
    "unknown command": (delta_bytes(copy(0, 10) + b"\x70"), "unknown command byte 0x70"),
    "negative copy start": (delta_bytes(copy(-1, 10)), "negative"),
    "negative copy length": (delta_bytes(copy(0, -10)), "negative"),
    "negative data length": (delta_bytes(data(b"", -1)), "negative"),
    "copy past the basis": (delta_bytes(copy(1000, 100)), "past the end of the 1024-byte basis"),
    "copy overflowing int64": (delta_bytes(copy(2**62, 2**62)), "past the end"),
    "truncated copy": (delta_bytes(copy(0, 10)[:9]), "inside a COPY command"),
    "truncated data length": (delta_bytes(b"\x80\x05\x00"), "inside a DATA command"),
    "truncated data payload": (delta_bytes(data(b"abc", 10)), "7 bytes short"),
    "wrong result": (delta_bytes(copy(1, 10)), "expects " + GOOD_HASH.hex()),
    "endless name prefix": (b"OCTODELTA\x01" + b"\x80" * 5, "length prefix"),
}


@pytest.mark.parametrize("name", BAD_DELTAS)
def test_malformed_deltas_are_rejected_clearly(name: str) -> None:
    delta, message = BAD_DELTAS[name]
    with pytest.raises(OctodiffError, match=message) as raised:
        applied(BASIS, delta)
    assert "\n" not in str(raised.value)


def test_valid_hand_made_delta_with_zero_length_commands_applies() -> None:
    delta = delta_bytes(copy(0, 0) + data(b"") + copy(0, 4) + data(BASIS[4:7]) + copy(7, 3))
    assert applied(BASIS, delta) == BASIS[:10]


def _fuzz_inputs(rng: random.Random, valid: bytes, rounds: int):
    for cut in range(len(valid)):
        yield valid[:cut]
    for _ in range(rounds):
        damaged = bytearray(valid)
        for _ in range(rng.randrange(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        yield bytes(damaged)


def test_fuzzed_deltas_fail_cleanly_or_apply(tmp_path: Path) -> None:
    rng = random.Random(13)
    basis = generated(3000)
    new = edited(basis[:1000], {5: 1}) + b"inserted" + basis[1200:]
    valid = delta_of(tmp_path, new, signature_of(basis, 128))
    for candidate in _fuzz_inputs(rng, valid, 400):  # each ends: a loop on bad input would hang the test
        with contextlib.suppress(OctodiffError):
            applied(basis, candidate)


def test_fuzzed_signatures_fail_cleanly_or_build_deltas(tmp_path: Path) -> None:
    rng = random.Random(17)
    basis = generated(700)
    valid = signature_of(basis, 128)
    new_file = tmp_path / "new.bin"
    new_file.write_bytes(basis[100:] + basis[:50])
    for candidate in _fuzz_inputs(rng, valid, 300):
        try:
            signature = read_signature(candidate)
        except OctodiffError:
            continue
        out = io.BytesIO()
        build_delta(new_file, signature, out, new_file_sha1=hashlib.sha1(new_file.read_bytes()).digest())
        # A damaged signature may describe another basis; the delta must still be well formed.
        with contextlib.suppress(OctodiffError):
            applied(basis, out.getvalue())
