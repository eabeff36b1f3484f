"""Choose the files to pack with `octo pack`'s include-pattern semantics, plus EXCLUDE, in a stable order."""

import bisect
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
from octopus_pack.pack.publish import could_be_our_package

log = logging.getLogger(__name__)

FolderId = tuple[int, int]  # (st_dev, st_ino): identifies a folder whatever path reached it


class SourceFile(NamedTuple):
    """One file to pack: where it is below SOURCE_PATH and the path it gets inside the package.

    A NamedTuple with only the relative path (the zip layout shares it with target): one is made per file, and a
    tree of many thousands of files must stay small and quick to build.
    """

    relative: str  # '/'-separated path below SOURCE_PATH, possibly through symlinks (content is the link's target)
    target: str  # '/'-separated path inside the package, not yet escaped
    size: int
    mtime: float
    mode: int  # permission bits, st_mode & 0o7777


@dataclass(frozen=True)
class NeverPack:
    """The pipe's own output, never packed: these folders, and packages in the output folder (any ID, see
    publish.could_be_our_package) unless an INCLUDE names one literally."""

    folders: frozenset[FolderId] = frozenset()  # e.g. Bitbucket's pipe storage folders
    output_folder: FolderId | None = None


# Version-control metadata, never packed unless an INCLUDE names it as a path segment ('.git/**'); a '.git' file is
# a submodule's or linked worktree's gitdir pointer. Tracked files such as .gitignore stay packed.
VCS_FOLDERS = frozenset({".git", ".hg", ".svn"})
VCS_LINK_FILE = ".git"


@dataclass
class Selection:
    """The chosen files in package order, and the include patterns that matched nothing (worth a warning)."""

    files: list[SourceFile] = field(default_factory=list)
    unmatched_includes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Pattern:
    text: str  # normalised: '/' separators, no leading './', folders expanded to 'dir/**/*'
    regex: re.Pattern[str]
    root: str  # literal folder prefix the search starts from ('' for the base itself)
    recursive: bool

    @property
    def is_literal(self) -> bool:
        return "*" not in self.text and "?" not in self.text

    @property
    def named_vcs(self) -> frozenset[str]:
        """The version-control folder names this pattern asks for explicitly, as whole path segments."""
        return VCS_FOLDERS.intersection(segment.lower() for segment in self.text.split("/"))


def select_files(base: str, includes: list[str], excludes: list[str], *, nuget_layout: bool,
                 never_pack: NeverPack) -> Selection:
    """Match every include pattern under base, drop excluded files and our own output, de-duplicate, sort;
    nuget_layout chooses octo's nupkg target paths instead of the zip layout (relative to base)."""
    base = os.path.abspath(base)
    include_patterns = [_compile(text, "INCLUDE") for text in includes if text.strip()] or [_compile("**", "INCLUDE")]
    exclude_regexes = [_compile(text, "EXCLUDE").regex for text in excludes if text.strip()]
    selection = Selection()
    by_target: dict[str, SourceFile] = {}
    _modes: dict[int, int] = {}  # one int object per distinct mode, not one per file
    left_out: dict[str, None] = {}  # version-control folders and links not packed, in the order met
    for pattern in include_patterns:
        found = False
        for relative, info in _search(base, pattern, never_pack, left_out):
            found = True
            if exclude_regexes and any(regex.match(relative) for regex in exclude_regexes):
                continue
            if not nuget_layout:
                target = relative
            elif pattern.recursive:  # octo's nupkg layout: the path below the pattern's literal folder...
                target = relative[len(pattern.root) + 1:] if pattern.root else relative
            else:  # ... or, for other patterns, the bare file name
                target = relative.rsplit("/", 1)[-1]
            mode = stat.S_IMODE(info.st_mode)
            chosen = SourceFile(relative, target, info.st_size, info.st_mtime, _modes.setdefault(mode, mode))
            earlier = by_target.setdefault(target, chosen)
            if earlier.relative != relative:
                raise PipeError(f"Two files would be packed as '{target}': '{earlier.relative}' and '{relative}'; "
                                "narrow INCLUDE or add an EXCLUDE so only one of them is packed.")
        if not found:
            if pattern.is_literal:
                raise PipeError(f"INCLUDE names '{pattern.text}', which is not a file under SOURCE_PATH: "
                                "fix the path (it is relative to SOURCE_PATH) or remove it.")
            selection.unmatched_includes.append(pattern.text)
    selection.files = sorted(by_target.values(), key=lambda chosen: chosen.target)
    # One DEBUG line per version-control folder or link left out, unless another INCLUDE packed it after all.
    asked_for = left_out and any(pattern.named_vcs for pattern in include_patterns)
    packed = sorted(chosen.relative for chosen in selection.files) if asked_for else []
    for path in left_out:
        at = bisect.bisect_left(packed, path)
        if at < len(packed) and (packed[at] == path or (path.endswith("/") and packed[at].startswith(path))):
            continue
        how = f"{path}**" if path.endswith("/") else path
        log.debug(f"Not packing '{path}': version-control metadata (INCLUDE '{how}' packs it).")
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


def _search(base: str, pattern: _Pattern, never_pack: NeverPack,
            left_out: dict[str, None]) -> Iterator[tuple[str, os.stat_result]]:
    """Yield (path relative to base, stat) of the files under the pattern's root that it matches."""
    root = os.path.join(base, pattern.root) if pattern.root else base
    try:
        root_info = os.stat(root)
    except OSError:
        return
    if not stat.S_ISDIR(root_info.st_mode):
        return
    prefix = f"{pattern.root}/" if pattern.root else ""
    enclosing = frozenset((info.st_dev, info.st_ino) for info in (
        os.stat(os.path.join(base, *pattern.root.split("/")[:depth])) for depth in range(pattern.root.count("/") + 1)))
    found = _walk(root, prefix, root_info, pattern, never_pack, enclosing, left_out)
    if pattern.text in ("**", "**/*"):  # matches everything
        yield from found
        return
    match = pattern.regex.match
    yield from (item for item in found if match(item[0]))


def _walk(root: str, prefix: str, root_info: os.stat_result, pattern: _Pattern, never_pack: NeverPack,
          enclosing: frozenset[FolderId], left_out: dict[str, None]) -> Iterator[tuple[str, os.stat_result]]:
    """(prefix + relative path, stat) of the files below root, following symlinks but never round a cycle.

    Leaves out version-control metadata the pattern does not name (noted in left_out) and our own packages.
    A stack, not recursion: a file costs one stat and one string, and no depth overflows the recursion limit.
    Folders are listed in name order, so warnings and the order of equal targets never depend on the disk.
    """
    recursive = pattern.recursive
    skipped_vcs = VCS_FOLDERS - pattern.named_vcs
    own_packages_wanted = pattern.is_literal
    pending = [(root, prefix, root_info, enclosing)]
    while pending:
        folder, prefix, info, above = pending.pop()
        folder_id = (info.st_dev, info.st_ino)
        if folder_id in never_pack.folders:
            continue
        is_output = folder_id == never_pack.output_folder
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
                log.warning(f"Skipping '{entry.path}': it is a symbolic link to something that does not exist.")
                continue
            except OSError as error:
                if error.errno == errno.ELOOP:  # a link to itself, or links that point at each other
                    log.warning(f"Skipping '{entry.path}': it is a symbolic link that loops (it leads back to itself).")
                    continue
                raise PipeError(f"Cannot read '{entry.path}': {error.strerror}. Check its permissions.") from error
            if stat.S_ISREG(child.st_mode):
                if is_output and not own_packages_wanted and could_be_our_package(entry.name):
                    log.debug(f"Not packing '{entry.path}': it is a package this pipe could have written (an "
                              "INCLUDE naming it packs it).")
                    continue
                if entry.name == VCS_LINK_FILE and VCS_LINK_FILE in skipped_vcs:
                    left_out.setdefault(prefix + entry.name, None)
                    continue
                yield prefix + entry.name, child
            elif stat.S_ISDIR(child.st_mode) and recursive:
                if entry.name in skipped_vcs:
                    left_out.setdefault(f"{prefix}{entry.name}/", None)
                    continue
                if (child.st_dev, child.st_ino) in above:
                    log.warning(f"Skipping '{entry.path}': the symbolic link loops back to a folder above it.")
                    continue
                folders.append((entry.path, f"{prefix}{entry.name}/", child, above))
        pending.extend(reversed(folders))  # so they are taken in name order
