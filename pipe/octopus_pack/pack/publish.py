"""Where a package is written and how it appears under its final name: atomically, never clobbering by accident.

The bytes go to a file in OUTPUT_PATH with no name while it is written (Linux's O_TMPFILE), so even a run killed
outright (SIGKILL, the OOM killer, a cancelled step) leaves nothing behind; elsewhere a hidden temporary name no
longer than the final one stands in. With OVERWRITE off the finished file is hard-linked to its final name, which
fails if that name appeared meanwhile: no gap between checking and publishing.
"""

import errno
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from octopus_pack.errors import PipeError, shortened
from octopus_pack.pack.versions import is_version

TEMPORARY_PREFIX = ".~"
TEMPORARY_NAME = re.compile(r"\.~[0-9a-f]{1,16}")  # what temporary_name() makes
PACKAGE_EXTENSIONS = (".zip", ".nupkg")
Made = TypeVar("Made")
_LINKLESS_ERRORS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK})


def could_be_our_package(name: str) -> bool:
    """Whether this pipe could have written a file of this name: {ID}.{VERSION}.zip|nupkg (any ID) or a temporary,
    so that a second call in the same step does not pack the first one's package."""
    if TEMPORARY_NAME.fullmatch(name):
        return True
    stem, dot, extension = name.rpartition(".")
    if not dot or f".{extension.lower()}" not in PACKAGE_EXTENSIONS:
        return False
    return any(is_version(stem[split + 1:]) for split in range(1, len(stem)) if stem[split] == ".")


def already_exists(target: Path) -> PipeError:
    return PipeError(f"{target} already exists: set OVERWRITE: 'true' to replace it, or change VERSION.")


def check_name_fits(folder: Path, existing: Path, file_name: str) -> None:
    """Refuse, before any packing, a file name longer than the file system of `existing` (folder, or the nearest
    folder above it that exists) allows."""
    length = len(os.fsencode(file_name))
    try:
        limit = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255  # Linux's limit on every common file system
    if length > limit:
        raise name_too_long(folder, file_name, limit)


def name_too_long(folder: Path, file_name: str, limit: int = 255) -> PipeError:
    return PipeError(f"The package name '{shortened(file_name)}' is {len(os.fsencode(file_name))} bytes long, but "
                     f"the file system of OUTPUT_PATH {folder} allows at most {limit}: shorten ID or VERSION.")


def temporary_name(final_name: str) -> str:
    """`.~` and random hex digits, at most as many bytes as the final name (which is at least 7: 'a.1.zip')."""
    digits = max(1, min(16, len(os.fsencode(final_name)) - len(TEMPORARY_PREFIX)))
    return TEMPORARY_PREFIX + secrets.token_hex(8)[:digits]


class PendingPackage:
    """The package while it is written (`out`), until publish() gives it its final name; close() in any case."""

    def __init__(self, folder: Path, final_name: str) -> None:
        self.folder = folder
        self.final_name = final_name
        self.path: Path | None = None  # the file's temporary name, when it has one
        fd = None
        if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):  # _link_to needs /proc
            try:
                fd = os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o666)
            except OSError as error:
                if error.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EISDIR, errno.EINVAL):
                    raise  # not just a kernel or file system without O_TMPFILE
        if fd is None:  # a new, empty file (never an existing one) under a temporary name
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            self.path, named = _at_free_temporary_name(folder, final_name, lambda path: os.open(path, flags, 0o666))
            fd = named
        self.out: BinaryIO = os.fdopen(fd, "w+b", buffering=1 << 20)

    def publish(self, target: Path, overwrite: bool) -> None:
        """Give the finished file its final name; with overwrite off, fail if that name exists."""
        self.out.flush()
        if self.path is None:  # nameless: link it straight to the target, or to a temporary name to replace it
            if not overwrite:
                try:
                    self._link_to(target.name)
                except FileExistsError:
                    raise already_exists(target) from None
                return
            self.path = _at_free_temporary_name(self.folder, self.final_name, lambda path: self._link_to(path.name))[0]
        temporary, self.path = self.path, None
        try:
            _rename(temporary, target, overwrite)
        except BaseException:
            self.path = temporary  # close() removes it
            raise

    def _link_to(self, name: str) -> None:
        """Name the nameless file: linkat(AT_SYMLINK_FOLLOW) of its /proc/self/fd entry, which os.link only
        uses when given a directory fd (without one it calls link(), which would link the symlink itself)."""
        folder = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.link(f"/proc/self/fd/{self.out.fileno()}", name, dst_dir_fd=folder, follow_symlinks=True)
        finally:
            os.close(folder)

    def close(self) -> None:
        """Close the file; a temporary name that was not published goes with it."""
        self.out.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def _at_free_temporary_name(folder: Path, final_name: str, create: Callable[[Path], Made]) -> tuple[Path, Made]:
    """(path, create(path)) at the first temporary name in folder that is free (create raises FileExistsError)."""
    for _ in range(100):
        path = folder / temporary_name(final_name)
        try:
            return path, create(path)
        except FileExistsError:
            continue
    raise PipeError(f"Cannot create a temporary file in OUTPUT_PATH {folder}: remove the '.~*' files there.")


def _rename(temporary: Path, target: Path, overwrite: bool) -> None:
    """Give the temporary file the target's name; with overwrite off, fail if that name exists."""
    if overwrite:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target, follow_symlinks=False)
    except FileExistsError:
        raise already_exists(target) from None
    except OSError as error:
        if error.errno not in _LINKLESS_ERRORS:
            raise
        # A file system without hard links: check, then rename (a concurrent pack could slip in between).
        if os.path.lexists(target):
            raise already_exists(target) from None
        os.rename(temporary, target)
        return
    temporary.unlink()


def check_output_folder(folder: Path, shown: str) -> Path:
    """The nearest folder that exists (OUTPUT_PATH, or the one it will be created in); refuses, before any packing,
    a file at OUTPUT_PATH or above it."""
    for candidate in (folder, *folder.parents):
        if os.path.isdir(candidate):
            return candidate
        if os.path.lexists(candidate):
            if candidate == folder:
                raise PipeError(f"OUTPUT_PATH '{shortened(shown, 4200)}' is a file, not a folder: remove it or set "
                                "OUTPUT_PATH to a folder.")
            raise PipeError(f"OUTPUT_PATH '{shortened(shown, 4200)}' is under {candidate}, which is a file, not a "
                            "folder: set OUTPUT_PATH to a folder.")
    return Path("/")


def output_fault(error: OSError, folder: Path, file_name: str) -> PipeError:
    """One line for an OS error while creating, writing or naming the package in folder."""
    code = error.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return PipeError(f"No space left in OUTPUT_PATH {folder} while writing {file_name}: free some space there "
                         "or set OUTPUT_PATH to a folder on a disk with room. Nothing was written.")
    if code == errno.EROFS:
        return PipeError(f"OUTPUT_PATH {folder} is on a read-only file system: set OUTPUT_PATH to a writable "
                         "folder, for example one inside the clone.")
    if code in (errno.EACCES, errno.EPERM):
        return PipeError(f"OUTPUT_PATH {folder} does not let the pipe write {file_name} ({error.strerror}): make "
                         "the folder writable (its permissions, or an immutable attribute) or choose another "
                         "OUTPUT_PATH.")
    if code == errno.ENAMETOOLONG:
        return name_too_long(folder, file_name)
    return PipeError(f"Cannot write {file_name} in OUTPUT_PATH {folder} ({error.strerror or error}): check the "
                     "folder and its disk, or choose another OUTPUT_PATH.")
