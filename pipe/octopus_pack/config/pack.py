"""Turn the pipe's variables (and octo-style EXTRA_ARGS) into one validated PackRequest."""

import logging
import os
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from octopus_pack.config import notices, values, variables
from octopus_pack.config.bitbucket import bitbucket_build_from
from octopus_pack.config.notices import Notice
from octopus_pack.config.octo_options import OctoOptions, parse_octo_options
from octopus_pack.config.variables import DEFAULT_DESCRIPTION
from octopus_pack.errors import PipeError
from octopus_pack.pack import nuget
from octopus_pack.pack.commit_time import NoCommitTime, read_commit_time
from octopus_pack.pack.compression import CompressionLevel
from octopus_pack.pack.packager import EntryTimes, PackageFormat, PackRequest
from octopus_pack.pack.versions import validate_version, validate_zip_id

Chosen = TypeVar("Chosen")

FORMATS = {"zip": PackageFormat.ZIP, "nupkg": PackageFormat.NUPKG, "nuget": PackageFormat.NUPKG}
LOG_LEVELS = {"verbose": logging.DEBUG, "debug": logging.DEBUG, "information": logging.INFO,
              "warning": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL}

MAX_RELEASE_NOTES_FILE_BYTES = 1 << 20
EARLIEST_EPOCH, LATEST_EPOCH = variables.number_range("SOURCE_DATE_EPOCH")
KEEP_FILE_TIMES = frozenset({"false", "no", "off"})  # SOURCE_DATE_EPOCH words for octo's behaviour


@dataclass(frozen=True)
class PackSettings:
    """The package to build, plus how chatty to be about it."""

    request: PackRequest
    log_level: int | None  # from --logLevel; None keeps the default (or DEBUG)
    shown_output_path: str  # OUTPUT_PATH as the user wrote it, for the closing line


def extra_args(env: Mapping[str, str]) -> list[str]:
    """EXTRA_ARGS as a list; a plain string is split like a shell would, as the old Bash pipe did."""
    if "EXTRA_ARGS_COUNT" in env:
        return values.array(env, "EXTRA_ARGS")
    value = variables.text(env, "EXTRA_ARGS") or ""
    try:
        return shlex.split(value)
    except ValueError as error:
        raise PipeError(f"EXTRA_ARGS cannot be split into options ({error}): write it as a YAML list, for "
                        "example EXTRA_ARGS: ['--description', 'text with spaces'].") from None


def pack_settings_from(env: Mapping[str, str], cwd: Path, found: list[Notice]) -> PackSettings:
    """Validate every packing input and resolve defaults the way octo did; raise PipeError on the first problem."""
    package_id = variables.required(env, "ID")
    package_format = _format(variables.required(env, "FORMAT"))
    version = validate_version(variables.required(env, "VERSION"))
    source = variables.required(env, "SOURCE_PATH")
    output = variables.required(env, "OUTPUT_PATH")
    octo = parse_octo_options(extra_args(env))
    source_path = Path(os.path.abspath(cwd / source))
    if not os.path.isdir(source_path):
        raise PipeError(f"SOURCE_PATH {values.quoted(source)} is not a folder: set SOURCE_PATH to the folder to "
                        "pack, relative to the repository, for example '.' or 'dist'.")
    # NuGet's rules for the ID and the metadata are the NuspecMetadata's own (pack/nuget.py); a zip's ID only
    # has to be a file name. Checked here, so a bad one stops the run before any connection or packing.
    metadata = _metadata(env, octo, package_id, version, cwd, found) \
        if package_format is PackageFormat.NUPKG else None
    if metadata is None:
        validate_zip_id(package_id)
    request = PackRequest(
        package_id=package_id,
        version=version,
        format=package_format,
        source_path=source_path,
        output_path=Path(os.path.abspath(cwd / output)),
        includes=values.array(env, "INCLUDE") + octo.includes,
        excludes=values.array(env, "EXCLUDE") + octo.excludes,
        overwrite=_overwrite(env, octo),
        compression=_compression(env.get("COMPRESSION_LEVEL"), octo),
        metadata=metadata,
        entry_times=_entry_times(env, cwd, source_path),
        verbose=octo.verbose,
        never_pack_folders=tuple(Path(env[name]) for name in ("BITBUCKET_PIPE_STORAGE_DIR",
                                                              "BITBUCKET_PIPE_SHARED_STORAGE_DIR") if env.get(name)),
    )
    return PackSettings(request, _log_level(octo.log_level), output)


def _format(value: str) -> PackageFormat:
    try:
        return FORMATS[value.strip().lower()]
    except KeyError:
        raise PipeError(f"FORMAT is {values.quoted(value)}: use zip or nupkg.") from None


def _one_of(variable: str, variable_value: Chosen | None, option: str, option_value: Chosen | None) -> Chosen | None:
    """A setting given both as a variable and in EXTRA_ARGS must agree; otherwise the user must pick one."""
    if variable_value is not None and option_value is not None and variable_value != option_value:
        shown, other = (values.quoted(str(value)).lower() if isinstance(value, bool) else values.quoted(str(value))
                        for value in (variable_value, option_value))
        raise PipeError(f"{variable} is {shown} but EXTRA_ARGS gives {option} {other}: set it in one place only.")
    return variable_value if variable_value is not None else option_value


def _overwrite(env: Mapping[str, str], octo: OctoOptions) -> bool:
    value = env.get("OVERWRITE")
    from_variable = variables.boolean(env, "OVERWRITE") if value is not None and value.strip() else None
    return bool(_one_of("OVERWRITE", from_variable, "--overwrite", octo.overwrite))


def _compression(value: str | None, octo: OctoOptions) -> CompressionLevel:
    if value is not None:
        values.check_length("COMPRESSION_LEVEL", value, variables.max_length("COMPRESSION_LEVEL"))
    from_variable = CompressionLevel.parse(value) if value and value.strip() else None
    from_option = CompressionLevel.parse(octo.compression_level, "--compressionLevel") \
        if octo.compression_level is not None else None
    chosen = _one_of("COMPRESSION_LEVEL", from_variable and from_variable.value, "--compressionLevel",
                     from_option and from_option.value)
    return CompressionLevel(chosen) if chosen else CompressionLevel.OPTIMAL


def _text(env: Mapping[str, str], name: str, octo_value: str | None, option: str) -> str | None:
    value = env.get(name) or None
    chosen = _one_of(name, value, option, octo_value)
    if chosen is not None:
        values.check_length(name if value is not None else f"EXTRA_ARGS {option}", chosen, variables.max_length(name))
    return chosen


def _metadata(env: Mapping[str, str], octo: OctoOptions, package_id: str, version: str, cwd: Path,
              found: list[Notice]) -> nuget.NuspecMetadata:
    """The nuspec fields, with octo's defaults: author USERNAME@USERDOMAIN, its stock description."""
    authors = list(dict.fromkeys(a.strip() for a in values.array(env, "AUTHORS") + octo.authors if a.strip()))
    if not authors:
        authors = [f"{env.get('USERNAME', '')}@{env.get('USERDOMAIN', '')}"]
    title = (_text(env, "TITLE", octo.title, "--title") or "").strip() or None
    description = (_text(env, "DESCRIPTION", octo.description, "--description") or "").strip()
    release_notes = _release_notes(_text(env, "RELEASE_NOTES", octo.release_notes, "--releaseNotes"),
                                   _text(env, "RELEASE_NOTES_FILE", octo.release_notes_file, "--releaseNotesFile"), cwd,
                                   found)
    return nuget.NuspecMetadata(package_id, version, tuple(authors), description or DEFAULT_DESCRIPTION, title,
                                release_notes)


def _release_notes(notes: str | None, notes_file: str | None, cwd: Path, found: list[Notice]) -> str | None:
    """octo joins the file's text and the notes with a newline; a missing file is only a warning, as in octo."""
    text = _read_release_notes_file(notes_file, cwd, found) if notes_file else None
    combined = "\n".join(part for part in (text, notes) if part is not None)
    return combined.strip() or None


def _read_release_notes_file(notes_file: str, cwd: Path, found: list[Notice]) -> str | None:
    """A regular UTF-8 file of at most 1 MiB: a device (/dev/zero) or a huge file is refused before reading it all."""
    shown = values.quoted(notes_file)
    try:
        with open(cwd / notes_file, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise PipeError(f"RELEASE_NOTES_FILE {shown} is not a regular file: give the path of a UTF-8 text "
                                "file, relative to the repository.")
            data = stream.read(MAX_RELEASE_NOTES_FILE_BYTES + 1)
    except FileNotFoundError:
        found.append(notices.warning(f"The release notes file '{notes_file}' could not be found; packing without it."))
        return None
    except IsADirectoryError:
        raise PipeError(f"RELEASE_NOTES_FILE {shown} is a folder: give the path of a UTF-8 text file, relative to "
                        "the repository.") from None
    except OSError as error:
        raise PipeError(f"Cannot read RELEASE_NOTES_FILE {shown} ({error.strerror}): it must be a readable UTF-8 "
                        "text file.") from None
    if len(data) > MAX_RELEASE_NOTES_FILE_BYTES:
        raise PipeError(f"RELEASE_NOTES_FILE {shown} is larger than 1 MiB: release notes that long do not belong "
                        "in a package; shorten the file.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PipeError(f"RELEASE_NOTES_FILE {shown} is not UTF-8 text (byte {error.start + 1} is not valid): "
                        "save it as UTF-8.") from None


def _entry_times(env: Mapping[str, str], cwd: Path, source_path: Path) -> EntryTimes:
    """SOURCE_DATE_EPOCH, else the build commit's time, else the files' own times.

    A commit's time by default makes a Rerun of the same commit pack the same bytes (FailIfExists then finds
    identical content); SOURCE_DATE_EPOCH: 'false' keeps the files' own times, as octo did.
    """
    value = env.get("SOURCE_DATE_EPOCH")
    if value is not None and value.strip():
        if value.strip().lower() in KEEP_FILE_TIMES:
            return EntryTimes(why_file_times=f"SOURCE_DATE_EPOCH is {values.quoted(value)}")
        return EntryTimes(_source_date_epoch(value))
    build = bitbucket_build_from(env, working_dir=cwd)
    try:
        found = read_commit_time(build.clone_dir, build.commit, source_path)
    except NoCommitTime as reason:
        return EntryTimes(why_file_times=f"{reason} (set SOURCE_DATE_EPOCH for reproducible packages)")
    return EntryTimes(float(min(max(found.time, EARLIEST_EPOCH), LATEST_EPOCH)), commit=found.commit)


def _source_date_epoch(value: str) -> float:
    """ASCII digits within the range a zip entry's time can hold (1980 to 2107)."""
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 10
            and EARLIEST_EPOCH <= int(digits) <= LATEST_EPOCH):
        raise PipeError(f"SOURCE_DATE_EPOCH is {values.quoted(value)}: use a Unix timestamp in seconds from "
                        f"{EARLIEST_EPOCH} (1980) to {LATEST_EPOCH} (2107), for example the commit time that "
                        "git log -1 --format=%ct prints, or 'false' to keep the files' own times.")
    return float(digits)


def _log_level(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return LOG_LEVELS[value.strip().lower()]
    except KeyError:
        raise PipeError(f"EXTRA_ARGS gives --logLevel {values.quoted(value)}: use one of {', '.join(LOG_LEVELS)}."
                        ) from None
