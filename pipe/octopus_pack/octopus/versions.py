"""When are two version strings one package version? Octopus's built-in feed answers as NuGet does.

NuGet's VersionComparer.Default (NuGet/NuGet.Client, src/NuGet.Core/NuGet.Versioning/VersionComparer.cs):
the numeric parts compare as numbers with missing parts as zero (1.0 == 1.0.0 == 1.0.0.0), release labels
compare part by part, numbers as numbers and words case-insensitively, and build metadata (+...) is ignored.
The server stores and answers a version in its own spelling (a normalised "1.0.0" for our "1.0"), so every
comparison of the server's versions with ours goes through `same_version`: the answer check, the look-ups of
packages and build information, and the re-run decisions.
"""

import re

_VERSION = re.compile(r"^(?P<core>\d+(?:\.\d+){0,3})(?:-(?P<labels>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]*)?$")
NUMERIC_PARTS = 4


def version_identity(version: str) -> tuple:
    """What NuGet compares: four numbers and the release labels; text that is no version compares as text."""
    match = _VERSION.match(version.strip())
    if not match:
        return ("text", version.strip().casefold())
    numbers = [int(part) for part in match["core"].split(".")]
    numbers += [0] * (NUMERIC_PARTS - len(numbers))
    labels = match["labels"]
    release = tuple(int(part) if part.isdigit() else part.casefold() for part in labels.split(".")) if labels else ()
    return ("version", tuple(numbers), release)


def same_version(theirs: object, ours: str) -> bool:
    """Is `theirs` (a server's answer, of any JSON type) the same package version as `ours`?"""
    return isinstance(theirs, str) and version_identity(theirs) == version_identity(ours)
