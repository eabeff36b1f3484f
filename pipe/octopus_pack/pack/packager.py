"""Build one package file from a PackRequest: select files, lay out zip or nupkg entries, write atomically."""

import itertools
import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote

from octopus_pack.errors import PipeError
from octopus_pack.pack import nuget
from octopus_pack.pack.compression import CompressionLevel
from octopus_pack.pack.ownership import give_to_folder_owner, make_folder
from octopus_pack.pack.publish import PendingPackage, already_exists, check_name_fits, check_output_folder, output_fault
from octopus_pack.pack.selection import NeverPack, SourceFile, select_files
from octopus_pack.pack.versions import octopus_can_parse_id
from octopus_pack.pack.zip_writer import ArchiveEntry, ZipWorkers
from octopus_pack.package_result import PackageResult
from octopus_pack.progress import PackingProgress
from octopus_pack.sizes import format_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntryTimes:
    """The time every entry gets (UTC, with permissions reduced to 0755/0644), or why the files' own are kept."""

    fixed: float | None = None  # SOURCE_DATE_EPOCH or the build commit's time; None: each file's own
    commit: str | None = None  # the commit whose time `fixed` is, when it is one
    why_file_times: str | None = None  # when `fixed` is None: why, for the DEBUG line


class PackageFormat(StrEnum):
    """The two kinds of package the pipe builds (the value is the file extension)."""

    ZIP = "zip"
    NUPKG = "nupkg"

    def __repr__(self) -> str:  # the DEBUG line shows PackRequest(... format='zip' ...)
        return repr(self.value)


@dataclass(frozen=True)
class PackRequest:
    """Everything that decides the package's bytes, already validated."""

    package_id: str
    version: str
    format: PackageFormat
    source_path: Path
    output_path: Path
    includes: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    overwrite: bool = False
    compression: CompressionLevel = CompressionLevel.OPTIMAL
    metadata: nuget.NuspecMetadata | None = None  # nupkg only
    entry_times: EntryTimes = EntryTimes()  # SOURCE_DATE_EPOCH or a commit's time makes the package reproducible
    verbose: bool = False
    never_pack_folders: tuple[Path, ...] = ()  # e.g. Bitbucket's pipe storage, wherever it sits

    @property
    def fixed_time(self) -> float | None:
        return self.entry_times.fixed

    @property
    def file_name(self) -> str:
        return f"{self.package_id}.{self.version}.{self.format}"


def build_package(request: PackRequest) -> PackageResult:
    """Write {ID}.{VERSION}.{format} into the output folder; on any failure leave nothing behind."""
    if request.format == PackageFormat.ZIP and not octopus_can_parse_id(request.package_id):  # checked: a warning
        log.warning(f"Octopus reads a zip's package ID from its file name and cannot read '{request.package_id}' "
                    "back correctly: prefer letters, digits, '.', '-' and '_', not ending in '.<number>'.")
    target = request.output_path / request.file_name
    existing_folder = check_output_folder(request.output_path, str(request.output_path))
    check_name_fits(request.output_path, existing_folder, request.file_name)
    if os.path.lexists(target) and not request.overwrite:
        raise already_exists(target)
    log.info("Packing %s version %s...", request.package_id, request.version)
    _log_entry_times(request)
    with ZipWorkers(request.compression, request.fixed_time) as workers:  # before the file list: see ZipWorkers
        selection = select_files(str(request.source_path), request.includes, request.excludes,
                                 nuget_layout=request.format == "nupkg", never_pack=_never_pack(request))
        files = selection.files
        for pattern in selection.unmatched_includes:
            log.warning(f"INCLUDE pattern '{pattern}' matched no files.")
        if request.verbose:
            for chosen in files:
                log.info(f"Added file: {chosen.target}")
        else:
            log.debug(f"Selected {len(files)} files: {', '.join(f.target for f in files[:200])}")
        entries = _nupkg_entries(request, files) if request.format == "nupkg" else _zip_entries(request, files)
        total_bytes = sum(f.size for f in files)
        log.info("Saving %s to %s (%d files, %s)...", request.file_name, request.output_path, len(files),
                 format_size(total_bytes))
        try:
            make_folder(request.output_path)  # only now: a run that fails earlier leaves no empty folder behind
            pending = PendingPackage(request.output_path, request.file_name)  # hashed as it is written, then named
            try:
                stats = workers.write(pending.out, entries,
                                      on_progress=PackingProgress(len(files), total_bytes).advance)
                pending.publish(target, request.overwrite)
            finally:
                pending.close()
        except OSError as error:
            raise _fault(error, request) from None
    give_to_folder_owner(target)
    return PackageResult(target, request.package_id, request.version, request.format, stats.size, stats.sha256,
                         len(files), stats.sha1)


def _fault(error: OSError, request: PackRequest) -> PipeError:
    """A source file that cannot be read, or a fault of the output folder's disk."""
    name = os.fsdecode(error.filename) if error.filename else None
    if name and request.output_path not in (Path(name), Path(name).parent):
        return PipeError(f"Cannot read '{name}': {error.strerror}. Check that it exists and is readable.")
    return output_fault(error, request.output_path, request.file_name)


def _log_entry_times(request: PackRequest) -> None:
    times = request.entry_times
    if times.fixed is None:
        log.debug(f"Entry times: the files' own, as {times.why_file_times or 'asked'}.")
        return
    shown = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(times.fixed))
    if times.commit:
        log.info(f"Entry times: {shown}, the time of commit {times.commit[:12]} (set SOURCE_DATE_EPOCH: 'false' to "
                 "keep the files' own times).")
    else:
        log.info(f"Entry times: {shown}, from SOURCE_DATE_EPOCH.")


def _never_pack(request: PackRequest) -> NeverPack:
    """Our own output: packages and partial writes in the output folder, Bitbucket's pipe storage."""
    try:
        output = request.output_path.stat()
        output_folder = (output.st_dev, output.st_ino)
    except OSError:  # created later, so nothing of ours is in it yet (or not a folder: build_package says so)
        output_folder = None
    folders = set()
    for folder in request.never_pack_folders:
        try:
            info = folder.stat()
        except OSError:
            continue
        folders.add((info.st_dev, info.st_ino))
    return NeverPack(frozenset(folders), output_folder)


def _file_entry(request: PackRequest, source: SourceFile, name: str) -> ArchiveEntry:
    """Permission bits kept; in reproducible mode only 'executable or not', as git does."""
    mode = source.mode if request.fixed_time is None else \
        0o755 if source.mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) else 0o644
    return ArchiveEntry(name, source.size, source.mtime, mode, path=f"{request.source_path}/{source.relative}")


def _zip_entries(request: PackRequest, files: list[SourceFile]) -> Iterator[ArchiveEntry]:
    """Entries made as the writer asks for them, so a large tree is never held twice."""
    if not files:
        log.warning("No files matched: the zip will be empty. Check SOURCE_PATH, INCLUDE and EXCLUDE.")
    return (_file_entry(request, f, f.target) for f in files)


def _check_payload_names(payload: list[SourceFile], names: tuple[str, ...]) -> None:
    """Refuse a file NuGet or Octopus would leave out of the nupkg, and two files that would share an entry."""
    taken: dict[str, SourceFile] = {}
    for f, name in zip(payload, names, strict=True):
        why = nuget.dropped_by_readers(name)
        if why:
            shown = f"'{f.relative}'" + (f" (packed as '{f.target}')" if f.target != f.relative else "")
            raise PipeError(f"{shown} cannot go into a nupkg: {why}. EXCLUDE it, or use FORMAT: 'zip'.")
        earlier = taken.setdefault(name, f)
        if earlier is not f:  # a backslash separates folders in a nupkg (as in octo): 'a\\b' meets 'a/b'
            raise PipeError(f"'{earlier.relative}' and '{f.relative}' would both be packed as '{unquote(name)}' in a "
                            "nupkg (a '\\' in a name separates folders there): rename or EXCLUDE one of them.")


def _nupkg_entries(request: PackRequest, files: list[SourceFile]) -> Iterator[ArchiveEntry]:
    """octo's nupkg: .rels, nuspec, payload (percent-encoded names), content types, core properties."""
    payload = [f for f in files if not nuget.is_nuspec(f.target)]
    dropped = [f.target for f in files if nuget.is_nuspec(f.target)]
    for target in dropped:
        log.warning(f"Not packing '{target}': NuGet packages cannot carry other .nuspec files.")
    if not payload:
        raise PipeError("No files matched, and a nupkg cannot be empty: check SOURCE_PATH, INCLUDE and EXCLUDE.")
    assert request.metadata is not None  # config gives every nupkg request its nuspec metadata
    parts = nuget.build_nupkg_parts(request.metadata, [f.target for f in files])  # octo counted .nuspec types
    _check_payload_names(payload, parts.payload_names)
    nuget.warn_about_what_nuget_clients_drop(parts.payload_names)
    now = request.fixed_time if request.fixed_time is not None else time.time()

    def generated(name: str, data: bytes) -> ArchiveEntry:
        return ArchiveEntry(name, len(data), now, 0o644, data=data)

    return itertools.chain(
        [generated("_rels/.rels", parts.rels), generated(parts.nuspec_name, parts.nuspec)],
        (_file_entry(request, f, name) for f, name in zip(payload, parts.payload_names, strict=True)),
        [generated("[Content_Types].xml", parts.content_types), generated(parts.psmdcp_name, parts.psmdcp)],
    )
