"""Package version and ID rules, as `octo pack` applied them (NuGet's loose grammar, never normalised)."""

import re

from octopus_pack.errors import PipeError

_LABEL = re.compile(r"[0-9A-Za-z-]+")
_INT32_MAX = 2**31 - 1
_OCTOPUS_FILE_NAME_ID = re.compile(r"\w+([_.-]\w+)*")


def validate_version(version: str) -> str:
    """Check VERSION against NuGet's loose grammar and return it as octo kept it: spaces removed, never normalised
    (`1.0.0.0` stays `1.0.0.0` in the file name and nuspec; Octopus deployments depend on that)."""
    original = version.replace(" ", "")
    text = version.strip()
    if not text:
        raise PipeError("VERSION is empty: set VERSION to the package version, for example '1.0.0'.")
    core, plus, metadata = text.partition("+")
    core, dash, labels = core.partition("-")
    parts = core.split(".")
    if not 1 <= len(parts) <= 4:
        raise _bad_version(version, "it needs 1 to 4 numeric parts")
    for part in parts:
        if not part.isascii() or not part.isdigit() or int(part) > _INT32_MAX:
            raise _bad_version(version, f"'{part}' is not a whole number")
    if dash:
        for label in labels.split("."):
            if not _LABEL.fullmatch(label) or (len(label) > 1 and label.isdigit() and label[0] == "0"):
                raise _bad_version(version, f"the pre-release label '{labels}' is not valid")
    if plus:
        for part in metadata.split("."):
            if not _LABEL.fullmatch(part):
                raise _bad_version(version, f"the build metadata '{metadata}' is not valid")
    return original


def is_version(text: str) -> bool:
    """Whether text, exactly as written (no spaces), is a version validate_version accepts."""
    if not text or text != text.replace(" ", "").strip():
        return False
    try:
        validate_version(text)
    except PipeError:
        return False
    return True


def prerelease_label(version: str) -> str:
    """The pre-release part of a version ('beta.1' in '1.0.0-beta.1+sha'), or ''."""
    return version.strip().partition("+")[0].partition("-")[2]


def _bad_version(version: str, reason: str) -> PipeError:
    return PipeError(f"VERSION '{version}' is not a valid package version ({reason}): use a version such as "
                     "'1.0.0', '1.0.0.0' or '1.2.3-beta.1'.")


def validate_zip_id(package_id: str) -> str:
    """Check ID for a zip package: it becomes a file name, so it must be one name and not blank."""
    if not package_id.strip():
        raise PipeError("ID is empty: set ID to the package ID, for example 'MyCompany.MyApp'.")
    if "/" in package_id or "\\" in package_id or ".." in package_id or "\0" in package_id:
        raise PipeError(f"ID '{package_id}' cannot be used as a file name (it contains '/', '\\', '..' or a NUL): "
                        "use letters, digits, '.', '-' and '_', for example 'MyCompany.MyApp'.")
    return package_id


def octopus_can_parse_id(package_id: str) -> bool:
    """Whether Octopus can read this ID back from a zip file name (it only has the name to go on)."""
    return bool(_OCTOPUS_FILE_NAME_ID.fullmatch(package_id)) and not re.search(r"\.\d+$", package_id)
