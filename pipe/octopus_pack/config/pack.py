"""Turn the pipe's variables (and octo-style EXTRA_ARGS) into one validated PackRequest."""

import logging
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octopus_pack.config.booleans import parse_boolean
from octopus_pack.config.octo_options import OctoOptions, parse_octo_options
from octopus_pack.errors import PipeError
from octopus_pack.pack import nuget
from octopus_pack.pack.compression import CompressionLevel
from octopus_pack.pack.packager import PackRequest
from octopus_pack.pack.versions import validate_version

log = logging.getLogger(__name__)

DEFAULT_DESCRIPTION = "A deployment package created from files on disk."
FORMATS = {"zip": "zip", "nupkg": "nupkg", "nuget": "nupkg"}
LOG_LEVELS = {"verbose": logging.DEBUG, "debug": logging.DEBUG, "information": logging.INFO,
              "warning": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL}


@dataclass(frozen=True)
class PackSettings:
    """The package to build, plus how chatty to be about it."""

    request: PackRequest
    log_level: int | None  # from --logLevel; None keeps the default (or DEBUG)


def array_variable(name: str, env: Mapping[str, str]) -> list[str]:
    """A Bitbucket array (NAME_COUNT, NAME_0, ...); a plain NAME string counts as a one-item array."""
    count = env.get(f"{name}_COUNT")
    if count is not None:
        if not count.strip().isdigit():
            raise PipeError(f"{name}_COUNT is '{count}', not a number: write {name} as a YAML list, "
                            f"for example {name}: ['a', 'b'].")
        return [env.get(f"{name}_{index}", "") for index in range(int(count))]
    value = env.get(name, "")
    return [value] if value.strip() else []


def extra_args(env: Mapping[str, str]) -> list[str]:
    """EXTRA_ARGS as a list; a plain string is split like a shell would, as the old Bash pipe did."""
    if "EXTRA_ARGS_COUNT" in env:
        return array_variable("EXTRA_ARGS", env)
    value = env.get("EXTRA_ARGS", "")
    try:
        return shlex.split(value)
    except ValueError as error:
        raise PipeError(f"EXTRA_ARGS cannot be split into options ({error}): write it as a YAML list, for "
                        "example EXTRA_ARGS: ['--description', 'text with spaces'].") from None


def pack_settings_from(variables: Mapping[str, Any], env: Mapping[str, str], cwd: Path) -> PackSettings:
    """Validate every packing input and resolve defaults the way octo did; raise PipeError on the first problem."""
    octo = parse_octo_options(extra_args(env))
    source_path = Path(os.path.abspath(cwd / variables["SOURCE_PATH"]))
    if not source_path.is_dir():
        raise PipeError(f"SOURCE_PATH '{variables['SOURCE_PATH']}' is not a folder: set SOURCE_PATH to the folder "
                        "to pack, relative to the repository, for example '.' or 'dist'.")
    package_format = _format(variables["FORMAT"])
    version = validate_version(variables["VERSION"])
    request = PackRequest(
        package_id=variables["ID"],
        version=version,
        format=package_format,
        source_path=source_path,
        output_path=Path(os.path.abspath(cwd / variables["OUTPUT_PATH"])),
        includes=array_variable("INCLUDE", env) + octo.includes,
        excludes=array_variable("EXCLUDE", env) + octo.excludes,
        overwrite=_overwrite(variables.get("OVERWRITE"), octo),
        compression=_compression(variables.get("COMPRESSION_LEVEL"), octo),
        metadata=_metadata(variables, env, octo, variables["ID"], version, cwd) if package_format == "nupkg" else None,
        fixed_time=_source_date_epoch(variables.get("SOURCE_DATE_EPOCH")),
        verbose=octo.verbose,
        never_pack_folders=tuple(Path(env[name]) for name in ("BITBUCKET_PIPE_STORAGE_DIR",
                                                              "BITBUCKET_PIPE_SHARED_STORAGE_DIR") if env.get(name)),
    )
    return PackSettings(request, _log_level(octo.log_level))


def _format(value: str) -> str:
    try:
        return FORMATS[value.strip().lower()]
    except KeyError:
        raise PipeError(f"FORMAT is '{value}': use zip or nupkg.") from None


def _one_of(variable: str, variable_value: str | None, option: str, option_value: str | None) -> str | None:
    """A setting given both as a variable and in EXTRA_ARGS must agree; otherwise the user must pick one."""
    if variable_value is not None and option_value is not None and variable_value != option_value:
        raise PipeError(f"{variable} is '{variable_value}' but EXTRA_ARGS gives {option} '{option_value}': "
                        "set it in one place only.")
    return variable_value if variable_value is not None else option_value


def _overwrite(value: str | None, octo: OctoOptions) -> bool:
    from_variable = None
    if value is not None and value.strip():
        from_variable = parse_boolean(value)
        if from_variable is None:
            raise PipeError(f"OVERWRITE is '{value}': use 'true' or 'false'.")
    chosen = _one_of("OVERWRITE", from_variable, "--overwrite", octo.overwrite)
    return bool(chosen)


def _compression(value: str | None, octo: OctoOptions) -> CompressionLevel:
    from_variable = CompressionLevel.parse(value) if value and value.strip() else None
    from_option = CompressionLevel.parse(octo.compression_level, "--compressionLevel") \
        if octo.compression_level is not None else None
    chosen = _one_of("COMPRESSION_LEVEL", from_variable and from_variable.value, "--compressionLevel",
                     from_option and from_option.value)
    return CompressionLevel(chosen) if chosen else CompressionLevel.OPTIMAL


def _text(variables: Mapping[str, Any], name: str, octo_value: str | None, option: str) -> str | None:
    value = variables.get(name)
    return _one_of(name, value if value else None, option, octo_value)


def _metadata(variables: Mapping[str, Any], env: Mapping[str, str], octo: OctoOptions, package_id: str,
              version: str, cwd: Path) -> nuget.NuspecMetadata:
    """The nuspec fields, with octo's defaults: author USERNAME@USERDOMAIN, its stock description."""
    authors = list(dict.fromkeys(a.strip() for a in array_variable("AUTHORS", env) + octo.authors if a.strip()))
    if not authors:
        authors = [f"{env.get('USERNAME', '')}@{env.get('USERDOMAIN', '')}"]
    title = (_text(variables, "TITLE", octo.title, "--title") or "").strip() or None
    description = (_text(variables, "DESCRIPTION", octo.description, "--description") or "").strip()
    release_notes = _release_notes(
        _text(variables, "RELEASE_NOTES", octo.release_notes, "--releaseNotes"),
        _text(variables, "RELEASE_NOTES_FILE", octo.release_notes_file, "--releaseNotesFile"), cwd)
    metadata = nuget.NuspecMetadata(package_id, version, tuple(authors), description or DEFAULT_DESCRIPTION,
                                    title, release_notes)
    for name, value in (("AUTHORS", ",".join(authors)), ("TITLE", title), ("DESCRIPTION", metadata.description),
                        ("RELEASE_NOTES", release_notes)):
        if value:
            nuget.validate_metadata_text(name, value)
    return metadata


def _release_notes(notes: str | None, notes_file: str | None, cwd: Path) -> str | None:
    """octo joins the file's text and the notes with a newline; a missing file is only a warning, as in octo."""
    text = None
    if notes_file:
        path = cwd / notes_file
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            log.warning("The release notes file '%s' could not be found; packing without it.", notes_file)
        except (OSError, UnicodeDecodeError) as error:
            raise PipeError(f"Cannot read RELEASE_NOTES_FILE '{notes_file}' ({error}): it must be a readable "
                            "UTF-8 text file.") from None
    combined = "\n".join(part for part in (text, notes) if part is not None)
    return combined.strip() or None


def _source_date_epoch(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    if not value.strip().isdigit():
        raise PipeError(f"SOURCE_DATE_EPOCH is '{value}': use a Unix timestamp in seconds, for example "
                        "the commit time from `git log -1 --format=%ct`.")
    return float(value.strip())


def _log_level(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return LOG_LEVELS[value.strip().lower()]
    except KeyError:
        raise PipeError(f"EXTRA_ARGS gives --logLevel '{value}': use one of {', '.join(LOG_LEVELS)}.") from None
