"""Octodiff deltas in Python, for Octopus Deploy's delta-compressed package pushes.

read_signature(bytes) -> Signature parses the server's OCTOSIG; build_delta(new_file, signature, out,
new_file_sha1=...) writes the OCTODELTA. Writing signatures and applying deltas, which only a server does,
live with the tests (test/fakes/octodiff_tools.py).
"""

from .delta import build_delta
from .formats import DeltaWriter, OctodiffError, Signature, read_signature

__all__ = ["DeltaWriter", "OctodiffError", "Signature", "build_delta", "read_signature"]
