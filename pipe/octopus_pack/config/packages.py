"""PACKAGES: package files built elsewhere, to push as they are. Patterns matched and every file checked here."""

import glob
import os
from collections.abc import Mapping
from pathlib import Path

from octopus_pack.config import values
from octopus_pack.errors import PipeError
from octopus_pack.package_result import PackageResult

PACKING_VARIABLES = ("ID", "FORMAT", "VERSION", "SOURCE_PATH", "OUTPUT_PATH")
"""Without any of these, a step with PACKAGES packs nothing and only pushes."""


def package_patterns(env: Mapping[str, str]) -> list[str]:
    """PACKAGES as written: a Bitbucket array, or a plain string for one item."""
    return values.array(env, "PACKAGES")


def push_only(env: Mapping[str, str], patterns: list[str]) -> bool:
    """PACKAGES given and no packing variable: nothing is packed. Some packing variables: packing asks for the rest."""
    return bool(patterns) and not any(env.get(name, "").strip() for name in PACKING_VARIABLES)


def listed_packages(patterns: list[str], cwd: Path, packed: tuple[str, str] | None) -> tuple[PackageResult, ...]:
    """Every file the patterns match, in their order (one pattern's matches sorted by path), read and checked.

    `packed` is the ID and version the step packs, if it packs: a listed file may not repeat it.
    """
    if not patterns:
        return ()
    from octopus_pack.config.package_files import check_unique, read_package_file  # only steps with PACKAGES need them

    listed = [(shown, read_package_file(path, shown)) for shown, path in _matched_files(patterns, cwd)]
    check_unique(listed, packed)
    return tuple(package for _, package in listed)


def _matched_files(patterns: list[str], cwd: Path) -> list[tuple[str, Path]]:
    """(the path as shown, the absolute path) of each match; a file matched by two patterns is pushed once."""
    matched: dict[str, tuple[str, Path]] = {}
    for index, pattern in enumerate(patterns):
        item = pattern.strip()
        if not item:
            raise PipeError(f"PACKAGES item {index + 1} is empty: give a package file or pattern, for example "
                            "'target/*.jar'.")
        names = sorted(glob.glob(item, root_dir=cwd, recursive=True))
        if not names:
            raise PipeError(f"PACKAGES item {index + 1} {values.quoted(item)} matches no file in {cwd}: check the "
                            "path (it is relative to the working directory) and that the build step before wrote "
                            "the package.")
        for name in names:
            path = Path(os.path.abspath(cwd / name))
            if os.path.isdir(path):
                raise PipeError(f"PACKAGES item {index + 1} {values.quoted(item)} matches the folder {name}: list "
                                f"the package files in it, for example '{name.rstrip('/')}/*.zip'.")
            matched.setdefault(os.path.realpath(path), (name, path))
    return list(matched.values())
