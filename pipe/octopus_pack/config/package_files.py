"""Package files built elsewhere (PACKAGES): what Octopus will read from each one, checked before anything is sent.

Octopus takes a package's ID and version from its file name, `{ID}.{Version}.{extension}`, and for a .nupkg from
the nuspec inside it. A file Octopus would refuse or misread is refused here, naming the file and the fix.
"""

import hashlib
import os
import re
import stat
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from octopus_pack.errors import PipeError
from octopus_pack.package_result import PackageResult

# The extensions Octopus's built-in repository takes (Octopus docs, packaging-applications "Supported formats";
# research octopus-rest.md §6.3). Longest first, so `.tar.gz` is found before `.tar` could be.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first local header, or the end record of an empty zip
_GZIP_MAGIC = (b"\x1f\x8b",)
_BZIP2_MAGIC = (b"BZh",)
_COMPRESS_MAGIC = (b"\x1f\x9d",)
_RAR_MAGIC = (b"Rar!\x1a\x07",)
_TAR_MAGIC_OFFSET = 257  # "ustar" in a POSIX/GNU tar header


@dataclass(frozen=True)
class ArchiveKind:
    """One extension Octopus takes, and the bytes a file of that kind starts with."""

    extension: str  # without the leading dot, lower case: "tar.gz"
    description: str  # how a message names the kind: "a gzip-compressed tar"
    magic: tuple[bytes, ...]  # empty: a tar, checked at offset 257


ARCHIVE_KINDS = tuple(sorted((
    ArchiveKind("nupkg", "a NuGet package (a zip)", _ZIP_MAGIC),
    ArchiveKind("zip", "a zip", _ZIP_MAGIC),
    ArchiveKind("jar", "a Java archive (a zip)", _ZIP_MAGIC),
    ArchiveKind("war", "a Java web archive (a zip)", _ZIP_MAGIC),
    ArchiveKind("ear", "a Java enterprise archive (a zip)", _ZIP_MAGIC),
    ArchiveKind("rar", "a RAR archive", _RAR_MAGIC),
    ArchiveKind("tar", "a tar", ()),
    ArchiveKind("tar.gz", "a gzip-compressed tar", _GZIP_MAGIC),
    ArchiveKind("tgz", "a gzip-compressed tar", _GZIP_MAGIC),
    ArchiveKind("tar.bz2", "a bzip2-compressed tar", _BZIP2_MAGIC),
    ArchiveKind("tar.bz", "a bzip2-compressed tar", _BZIP2_MAGIC),
    ArchiveKind("tbz", "a bzip2-compressed tar", _BZIP2_MAGIC),
    ArchiveKind("tar.z", "a compress (.Z) tar", _COMPRESS_MAGIC),
), key=lambda kind: -len(kind.extension)))
SUPPORTED_EXTENSIONS = ", ".join(f".{kind.extension}" if kind.extension != "tar.z" else ".tar.Z"
                                 for kind in sorted(ARCHIVE_KINDS, key=lambda kind: kind.extension))

# Octopus's own reading of a file name (OctopusDeploy/OctopusClients
# source/Octopus.Server.Client/Util/PackageIdentityParser.cs, "from OctopusServer's PackageIdentity class"); the
# extension is stripped first, `.tar.*` as a whole as go-octopusdeploy pkg/packages/package_service.go does.
_VERSION = r"\d+(\.\d+){0,3}(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
_PACKAGE_ID = r"\w+([_.-]\w+)*?"
_IDENTITY = re.compile(rf"(?P<id>{_PACKAGE_ID})\.(?P<version>{_VERSION})")
_VERSION_ONLY = re.compile(_VERSION)
_ID_ONLY = re.compile(r"\w+([_.-]\w+)*")
# Maven's `app-1.0.0.jar` is read as package `app-1` version `0.0`: an ID ending in a dash and a number is taken
# for a misread (Octopus's docs advise against numbers in IDs for this reason). `Acme_2.1.0.0` reads as meant.
_MAVEN_STYLE_END = re.compile(r"-\d+$")

HEADER_BYTES = 512  # enough for every magic number above, a tar's at 257 included
CHUNK_BYTES = 1 << 20
MAX_NUSPEC_BYTES = 1 << 20


def archive_kind(name: str) -> ArchiveKind | None:
    """The kind a file name's extension says, compared case-insensitively; None when Octopus takes no such file."""
    lowered = name.lower()
    return next((kind for kind in ARCHIVE_KINDS if lowered.endswith("." + kind.extension)), None)


def read_package_file(path: Path, shown: str) -> PackageResult:
    """Check one listed file and read its ID, version and hashes (SHA-1 for Octopus, SHA-256 for the report).

    `shown` is the path as the message names it (relative to the working directory, as PACKAGES matched it).
    """
    kind = archive_kind(path.name)
    if kind is None:
        raise PipeError(f"PACKAGES file {shown} is not a package Octopus takes: use one of {SUPPORTED_EXTENSIONS} "
                        "(the extension tells Octopus the format).")
    package_id, version = _identity_from_name(path.name, kind, shown) if kind.extension != "nupkg" else ("", "")
    size, sha1, sha256 = _checked_hashes(path, kind, shown)
    if kind.extension == "nupkg":
        package_id, version = _identity_from_nuspec(path, shown)
    extension_as_written = path.name[-len(kind.extension):]
    return PackageResult(path=path, package_id=package_id, version=version, format=extension_as_written, size=size,
                         sha256=sha256, file_count=None, sha1=sha1)


def _identity_from_name(name: str, kind: ArchiveKind, shown: str) -> tuple[str, str]:
    stem, extension = name[: -len(kind.extension) - 1], name[-len(kind.extension):]
    match = _IDENTITY.fullmatch(stem)
    suggestion = _suggested_name(stem, extension)
    if match is None or _MAVEN_STYLE_END.search(match.group("id")):
        read = f" (Octopus would read it as package {match.group('id')} version {match.group('version')})" \
            if match else ""
        example = f"rename it to {suggestion}" if suggestion else f"for example MyApp.1.0.0.{extension}"
        raise PipeError(f"PACKAGES file {shown} is not named {{ID}}.{{version}}.{extension}, the form Octopus reads "
                        f"the package ID and version from{read}: {example}.")
    return match.group("id"), match.group("version")


def _suggested_name(stem: str, extension: str) -> str | None:
    """`app.1.0.0.jar` for Maven's `app-1.0.0.jar`: the first `-` or `_` before a version becomes the dot."""
    for separator in re.finditer(r"[-_.](?=\d)", stem):
        package_id, version = stem[: separator.start()], stem[separator.end():]
        if _ID_ONLY.fullmatch(package_id) and _VERSION_ONLY.fullmatch(version) \
                and not _MAVEN_STYLE_END.search(package_id):
            return f"{package_id}.{version}.{extension}"
    return None


def _checked_hashes(path: Path, kind: ArchiveKind, shown: str) -> tuple[int, str, str]:
    """Size, SHA-1 and SHA-256 from one read of a regular, non-empty file that starts as its extension says."""
    sha1, sha256 = hashlib.sha1(usedforsecurity=False), hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise PipeError(f"PACKAGES file {shown} is not a regular file: list package files only.")
            header = stream.read(HEADER_BYTES)
            if not header:
                raise PipeError(f"PACKAGES file {shown} is empty: the build did not finish writing it; build it "
                                "again or remove it from PACKAGES.")
            if not _starts_as(header, kind):
                raise PipeError(f"PACKAGES file {shown} is not {kind.description}, as its .{kind.extension} "
                                "extension says: its first bytes are of another kind of file; list the real "
                                "package or give it the right extension.")
            size = len(header)
            chunk = header
            while chunk:
                sha1.update(chunk)
                sha256.update(chunk)
                chunk = stream.read(CHUNK_BYTES)
                size += len(chunk)
    except IsADirectoryError:
        raise PipeError(f"PACKAGES file {shown} is a folder: list the package files in it, for example "
                        f"'{shown.rstrip('/')}/*.zip'.") from None
    except OSError as error:
        raise PipeError(f"PACKAGES file {shown} cannot be read ({error.strerror}): check that the build wrote it "
                        "and that the pipe may read it.") from None
    return size, sha1.hexdigest(), sha256.hexdigest()


def _starts_as(header: bytes, kind: ArchiveKind) -> bool:
    if not kind.magic:
        return header[_TAR_MAGIC_OFFSET:_TAR_MAGIC_OFFSET + 5] == b"ustar"
    return header.startswith(kind.magic)


def _identity_from_nuspec(path: Path, shown: str) -> tuple[str, str]:
    """The <id> and <version> of the one .nuspec at the package's root, where NuGet and Octopus read them."""
    try:
        with zipfile.ZipFile(path) as package:
            nuspecs = [info for info in package.infolist()
                       if "/" not in info.filename and info.filename.lower().endswith(".nuspec")]
            if len(nuspecs) != 1:
                raise PipeError(f"PACKAGES file {shown} has {len(nuspecs) or 'no'} .nuspec files at its root, and a "
                                "NuGet package has exactly one: build it with dotnet pack or nuget pack.")
            if nuspecs[0].file_size > MAX_NUSPEC_BYTES:
                raise PipeError(f"PACKAGES file {shown} has a nuspec larger than 1 MiB: that is not a NuGet "
                                "package's manifest.")
            root = ElementTree.fromstring(package.read(nuspecs[0]))
    except (zipfile.BadZipFile, ElementTree.ParseError, EOFError, NotImplementedError) as error:
        raise PipeError(f"PACKAGES file {shown} is not a readable NuGet package ({error}): build it again with "
                        "dotnet pack or nuget pack.") from None
    fields = {_local_name(element.tag): (element.text or "").strip()
              for metadata in root if _local_name(metadata.tag) == "metadata" for element in metadata}
    package_id, version = fields.get("id", ""), fields.get("version", "")
    if not _ID_ONLY.fullmatch(package_id) or not _VERSION_ONLY.fullmatch(version):
        raise PipeError(f"PACKAGES file {shown} has the nuspec id '{package_id}' and version '{version}', which "
                        "Octopus cannot take: it needs an ID such as MyApp and a version such as 1.0.0.")
    return package_id, version


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def check_unique(listed: Sequence[tuple[str, PackageResult]], packed: tuple[str, str] | None = None) -> None:
    """Refuse the same package ID and version twice (1.0 is 1.0.0 to Octopus): the second would fail or replace.

    `listed` pairs each file as PACKAGES matched it with what was read from it; `packed` is the packed package's
    ID and version when the step also packs.
    """
    from octopus_pack.octopus.versions import same_version

    seen: list[tuple[str, str, str]] = []
    if packed is not None:
        seen.append((packed[0], packed[1], "the package this step packs"))
    for shown, package in listed:
        for package_id, version, where in seen:
            if package.package_id.casefold() == package_id.casefold() and same_version(package.version, version):
                raise PipeError(f"PACKAGES file {shown} is package {package.package_id} version {package.version}, "
                                f"as is {where}: Octopus keeps one file per package ID and version; list only one "
                                "of them.")
        seen.append((package.package_id, package.version, shown))
