"""The fake server's own Octodiff (test/fake_octopus/octodiff_reference.py) against the C# test vectors.

The fake judges the pipe's deltas with this code, so it is checked against the reference vectors, never
against the pipe's own octodiff package.
"""

import io

import pytest

import test_octodiff
from fake_octopus import octodiff_reference
from test_octodiff import DELTA_CASES, generated, sample_data, vector_names

vectors = test_octodiff.vectors  # the same fixture: the C# vectors, skipped or failed (CI) when absent

SIGNATURES_AT_2048 = {"td,chunk=2048": sample_data, "gen(102400),chunk=2048": lambda: generated(102400)}


@pytest.mark.parametrize("name", list(SIGNATURES_AT_2048))
def test_signatures_match_the_vectors(vectors: dict, name: str) -> None:
    data = SIGNATURES_AT_2048[name]()
    assert octodiff_reference.signature(io.BytesIO(data)).hex() == vectors["signatures"][name]


def test_the_v1_checksum_matches_the_vectors(vectors: dict) -> None:
    assert octodiff_reference.adler32_v1(sample_data()) == vectors["adler32_v1"]["calc"]["td"]
    assert octodiff_reference.adler32_v1(generated(102400)) == vectors["adler32_v1"]["calc"]["gen(102400)"]


@pytest.mark.parametrize("name", vector_names("deltas"))
def test_every_vector_delta_rebuilds_its_file(vectors: dict, name: str) -> None:
    basis, _, new = DELTA_CASES[name]()
    out = io.BytesIO()
    octodiff_reference.apply_delta(io.BytesIO(basis), io.BytesIO(bytes.fromhex(vectors["deltas"][name])), out)
    assert out.getvalue() == new


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda d: d[:-1], "cut short"),
        (lambda d: d[:30] + bytes([d[30] ^ 1]) + d[31:], "SHA-1 differs"),
        (lambda d: d + b"\x42", "unknown command"),
        (lambda d: b"OCTOSIG" + d[7:], "not an OCTODELTA"),
    ],
)
def test_damaged_deltas_are_refused(vectors: dict, damage, problem: str) -> None:
    name = "td with bytes[32..34]=aa,ab,ac (sig td,2048)"
    basis, _, _ = DELTA_CASES[name]()
    delta = damage(bytes.fromhex(vectors["deltas"][name]))
    with pytest.raises(octodiff_reference.DeltaError, match=problem):
        octodiff_reference.apply_delta(io.BytesIO(basis), io.BytesIO(delta), io.BytesIO())
