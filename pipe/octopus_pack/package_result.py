"""A package file to report and push, packed by this run or built elsewhere: the facts later steps need."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackageResult:
    """A finished package on disk: one this run packed, named {package_id}.{version}.{format}, or one built
    elsewhere and listed in PACKAGES (config/package_files.py), whose ID and version are what Octopus reads from it."""

    path: Path
    package_id: str
    version: str
    format: str  # the extension without its dot: "zip" or "nupkg" when packed; also "jar", "tar.gz"... when listed
    size: int
    sha256: str
    file_count: int | None  # None for a file built elsewhere: its entries are never counted
    sha1: str  # what Octopus reports as a package's Hash; computed with sha256 in the same read of the file

    @property
    def upload_name(self) -> str:
        """The name sent with the upload, which Octopus reads the ID and version from: the file's own name, except
        for a listed .nupkg whose file name differs from its nuspec (its nuspec's ID and version are what count)."""
        return f"{self.package_id}.{self.version}.{self.format}"
