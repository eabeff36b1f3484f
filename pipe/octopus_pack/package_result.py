"""What a successful pack produced: the facts later steps (reporting, pushing) need about the file."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackageResult:
    """A finished package on disk, named {package_id}.{version}.{format}."""

    path: Path
    package_id: str
    version: str
    format: str  # "zip" or "nupkg"
    size: int
    sha256: str
    file_count: int
    sha1: str  # what Octopus reports as a package's Hash; computed with sha256 while the file was written
