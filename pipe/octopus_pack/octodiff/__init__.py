"""Octodiff signatures and deltas in Python, compatible with Octopus Deploy's delta-compressed package pushes.

build_signature(basis) -> OCTOSIG bytes; read_signature(bytes) -> Signature;
build_delta(new_file, signature, out) writes an OCTODELTA; apply_delta(basis, delta, out) rebuilds the file.
"""

from .delta import build_delta
from .formats import ChunkSignature, DeltaWriter, OctodiffError, Signature, read_signature
from .patch import apply_delta
from .signature import build_signature

__all__ = [
    "ChunkSignature",
    "DeltaWriter",
    "OctodiffError",
    "Signature",
    "apply_delta",
    "build_delta",
    "build_signature",
    "read_signature",
]
