"""Choose the files to pack with `octo pack`'s include-pattern semantics, plus EXCLUDE, in a stable order."""

import errno
import logging
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import NamedTuple

from octopus_pack.errors import PipeError

log = logging.getLogger(__name__)

DirectoryId = tuple[int, int]  # (st_dev, st_ino): identifies a folder whatever path reached it


class SourceFile(NamedTuple):
    """One file to pack: where it is below SOURCE_PATH and the path it gets inside the package.

    Only the relative path is kept (the zip layout shares it with target): a tree of 50,000 files must fit
    in a few MB. A NamedTuple: one is made per file, and it builds three times faster than a frozen dataclass.
    """

    relative: str  # '/'-separated path below SOURCE_PATH, possibly through symlinks (content is the link's target)
    target: str  # '/'-separated path inside the package, not yet escaped
    size: int
    mtime: float
    mode: int  # permission bits, st_mode & 0o7777


@dataclass(frozen=True)
class NeverPack:
    """What the pipe must never put in a package, wherever the patterns point: its own output."""

    directories: frozenset[DirectoryId] = frozenset()  # e.g. Bitbucket's pipe storage folders
    output_directory: DirectoryId | None = None
    output_names: re.Pattern[str] | None = None  # package files (and partial ones) of this ID


@dataclass
class Selection:
    """The chosen files in package order, and the include patterns that matched nothing (worth a warning)."""

    files: list[SourceFile] = field(default_factory=list)
    unmatched_includes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Pattern:
    text: str  # normalised: '/' separators, no leading './', directories expanded to 'dir/**/*'
    regex: re.Pattern[str]
    root: str  # literal folder prefix the search starts from ('' for the base itself)
    recursive: bool

    @property
    def is_literal(self) -> bool:
        return "*" not in self.text and "?" not in self.text

    @property
    def matches_everything(self) -> bool:
        return self.text in ("**", "**/*")


def select_files(base: str, includes: list[str], excludes: list[str], *, nuget_layout: bool,
                 never_pack: NeverPack) -> Selection:
    """Match every include pattern under base, drop excluded files and our own output, de-duplicate, sort.

    nuget_layout chooses octo's nupkg target paths (relative to the pattern's literal folder for recursive
    patterns, the bare file name otherwise) instead of the zip layout (relative to base).
    """
    base = os.path.abspath(base)
    include_patterns = [_compile(text, "INCLUDE") for text in includes if text.strip()] or [_compile("**", "INCLUDE")]
    exclude_regexes = [_compile(text, "EXCLUDE").regex for text in excludes if text.strip()]
    selection = Selection()
    by_target: dict[str, SourceFile] = {}
    _modes: dict[int, int] = {}  # one int object per distinct mode, not one per file
    for pattern in include_patterns:
        found = False
        for relative, info in _search(base, pattern, never_pack):
            found = True
            if exclude_regexes and any(regex.match(relative) for regex in exclude_regexes):
                continue
            target = _target(relative, pattern) if nuget_layout else relative
            mode = stat.S_IMODE(info.st_mode)
            chosen = SourceFile(relative, target, info.st_size, info.st_mtime, _modes.setdefault(mode, mode))
            earlier = by_target.setdefault(target, chosen)
            if earlier.relative != relative:
                raise PipeError(
                    f"Two files would be packed as '{target}': '{earlier.relative}' and '{relative}'; narrow "
                    "INCLUDE or add an EXCLUDE so only one of them is packed."
                )
        if not found:
            if pattern.is_literal:
                raise PipeError(f"INCLUDE names '{pattern.text}', which is not a file under SOURCE_PATH: "
                                "fix the path (it is relative to SOURCE_PATH) or remove it.")
            selection.unmatched_includes.append(pattern.text)
    selection.files = sorted(by_target.values(), key=lambda chosen: chosen.target)
    return selection


def _compile(pattern: str, variable: str) -> _Pattern:
    """Turn a pattern into octo's regex (NuGet PathResolver.WildcardToRegex), matched case-insensitively."""
    text = pattern.strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    if text.startswith("/") or ".." in text.split("/"):
        raise PipeError(f"{variable} pattern '{pattern}' points outside SOURCE_PATH: write it relative to "
                        "SOURCE_PATH, for example 'bin/**'.")
    if len(text) > 1 and text.endswith("/"):
        text += "**/*"
    regex = re.escape(text)
    for wildcard, replacement in ((r"\.\*\*", r"\.[^/.]*"), (r"\*\*/", ".*"), (r"\*\*", ".*"),
                                  (r"\*", "[^/]*(/)?"), (r"\?", ".")):
        regex = regex.replace(wildcard, replacement)
    folder = os.path.dirname(text)
    star = text.find("*")
    root = folder if star < 0 else text[: max(text.rfind("/", 0, star), 0)]
    return _Pattern(text, re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL), root,
                    recursive="**" in text or "*" in folder)


def _target(relative: str, pattern: _Pattern) -> str:
    """octo's nupkg layout: recursive patterns keep the path below their literal folder, others flatten."""
    if pattern.recursive:
        return relative[len(pattern.root) + 1:] if pattern.root else relative
    return relative.rsplit("/", 1)[-1]


def _search(base: str, pattern: _Pattern, never_pack: NeverPack) -> Iterator[tuple[str, os.stat_result]]:
    """Yield (path relative to base, stat) of the files under the pattern's root that it matches."""
    root = os.path.join(base, pattern.root) if pattern.root else base
    try:
        root_info = os.stat(root)
    except OSError:
        return
    if not stat.S_ISDIR(root_info.st_mode):
        return
    prefix = f"{pattern.root}/" if pattern.root else ""
    enclosing = {_folder_id(base)} | {_folder_id(os.path.join(base, *pattern.root.split("/")[:depth]))
                                      for depth in range(1, pattern.root.count("/") + 1)}
    found = _walk(root, prefix, root_info, pattern.recursive, never_pack, frozenset(enclosing))
    if pattern.matches_everything:
        yield from found
        return
    match = pattern.regex.match
    yield from (item for item in found if match(item[0]))


def _folder_id(path: str) -> DirectoryId:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _walk(root: str, prefix: str, root_info: os.stat_result, recursive: bool, never_pack: NeverPack,
          enclosing: frozenset[DirectoryId]) -> Iterator[tuple[str, os.stat_result]]:
    """(prefix + relative path, stat) of the files below root (following symlinks, hidden files included).

    Never loops through a link cycle. Iterative, with a stack of folders: a file costs one stat and one
    string, not a generator frame for every level above it, and no depth overflows the recursion limit.
    Each folder is listed in name order, so warnings and the order of equal targets never depend on the disk.
    """
    pending = [(root, prefix, root_info, enclosing)]
    while pending:
        folder, prefix, info, above = pending.pop()
        folder_id = (info.st_dev, info.st_ino)
        if folder_id in never_pack.directories:
            continue
        is_output = folder_id == never_pack.output_directory
        above = above | {folder_id}
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=attrgetter("name"))
        except OSError as error:
            raise PipeError(f"Cannot read folder '{folder}': {error.strerror}. Check its permissions.") from error
        folders = []
        for entry in entries:
            try:
                child = entry.stat()  # follows symlinks: a linked file is packed by content
            except FileNotFoundError:
                log.warning("Skipping '%s': it is a symbolic link to something that does not exist.", entry.path)
                continue
            except OSError as error:
                if error.errno == errno.ELOOP:  # a link to itself, or links that point at each other
                    log.warning("Skipping '%s': it is a symbolic link that loops (it leads back to itself).",
                                entry.path)
                    continue
                raise PipeError(f"Cannot read '{entry.path}': {error.strerror}. Check its permissions.") from error
            if stat.S_ISREG(child.st_mode):
                if is_output and never_pack.output_names and never_pack.output_names.fullmatch(entry.name):
                    log.debug("Not packing '%s': it is a package this pipe wrote.", entry.path)
                    continue
                yield prefix + entry.name, child
            elif stat.S_ISDIR(child.st_mode) and recursive:
                if (child.st_dev, child.st_ino) in above:
                    log.warning("Skipping '%s': the symbolic link loops back to a folder above it.", entry.path)
                    continue
                folders.append((entry.path, f"{prefix}{entry.name}/", child, above))
        pending.extend(reversed(folders))  # so they are taken in name order
