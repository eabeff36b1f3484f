"""File selection: octo's include semantics, EXCLUDE, symlinks, and never packing the pipe's own output."""

import logging
import os
from pathlib import Path

import pytest

from octopus_pack.errors import PipeError
from octopus_pack.pack.selection import NeverPack, select_files


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    base = tmp_path / "src"
    for name in ["app.js", "README", ".env", "bin/app.dll", "bin/app.pdb", "bin/x64/native.so",
                 "docs/guide.md", "docs/img/logo.PNG", "obj/app.dll", "node_modules/lib/index.js"]:
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    (base / "empty-folder").mkdir()
    return base


def targets(base: Path, includes=(), excludes=(), nuget=False, never: NeverPack | None = None) -> list[str]:
    return [f.target for f in select_files(str(base), list(includes), list(excludes), nuget_layout=nuget,
                                           never_pack=never or NeverPack()).files]


def test_default_is_every_file_including_hidden_ones_sorted_without_folders(tree):
    assert targets(tree) == [".env", "README", "app.js", "bin/app.dll", "bin/app.pdb", "bin/x64/native.so",
                             "docs/guide.md", "docs/img/logo.PNG", "node_modules/lib/index.js", "obj/app.dll"]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("*.js", ["app.js"]),  # no '**': top folder only
    ("**/*.js", ["app.js", "node_modules/lib/index.js"]),  # '**/' also matches no folder at all
    ("bin/*", ["bin/app.dll", "bin/app.pdb"]),
    ("bin/**", ["bin/app.dll", "bin/app.pdb", "bin/x64/native.so"]),
    ("bin/", ["bin/app.dll", "bin/app.pdb", "bin/x64/native.so"]),  # a folder means everything below it
    ("docs/**/*.png", ["docs/img/logo.PNG"]),  # octo matched case-insensitively, even on Linux
    ("bin/app.???", ["bin/app.dll", "bin/app.pdb"]),
    ("README", ["README"]),
    ("./docs/guide.md", ["docs/guide.md"]),
    ("bin\\*.dll", ["bin/app.dll"]),  # Windows-style separators work too
])
def test_include_patterns_follow_octos_rules(tree, pattern, expected):
    assert targets(tree, [pattern]) == expected


def test_a_file_matched_by_two_patterns_is_packed_once(tree):
    assert targets(tree, ["bin/**", "**/*.dll"]) == ["bin/app.dll", "bin/app.pdb", "bin/x64/native.so", "obj/app.dll"]


def test_exclude_removes_matches_and_folder_patterns(tree):
    assert targets(tree, ["**"], ["**/*.pdb", "node_modules/", "obj/**", ".env", "docs/**"]) == \
        ["README", "app.js", "bin/app.dll", "bin/x64/native.so"]


def test_nupkg_targets_are_relative_to_the_patterns_folder_or_flattened(tree):
    assert targets(tree, ["bin/**"], nuget=True) == ["app.dll", "app.pdb", "x64/native.so"]
    assert targets(tree, ["docs/*.md", "bin/x64/native.so"], nuget=True) == ["guide.md", "native.so"]


def test_two_files_flattened_onto_one_nupkg_path_is_an_error(tree):
    with pytest.raises(PipeError, match=r"Two files would be packed as 'app\.dll'"):
        targets(tree, ["bin/*.dll", "obj/*.dll"], nuget=True)


def test_a_literal_include_that_does_not_exist_is_an_error(tree):
    with pytest.raises(PipeError, match=r"INCLUDE names 'bin/missing\.dll', which is not a file under SOURCE_PATH"):
        targets(tree, ["bin/missing.dll"])


def test_wildcards_that_match_nothing_are_reported_not_fatal(tree):
    selection = select_files(str(tree), ["**/*.exe", "bin/**"], [], nuget_layout=False, never_pack=NeverPack())
    assert selection.unmatched_includes == ["**/*.exe"]
    assert len(selection.files) == 3


@pytest.mark.parametrize("pattern", ["/etc/passwd", "../secret", "bin/../../x"])
def test_patterns_cannot_reach_outside_the_source_folder(tree, pattern):
    with pytest.raises(PipeError, match="points outside SOURCE_PATH"):
        targets(tree, [pattern])


def test_symlinked_files_are_packed_by_content_and_linked_folders_followed(tree, tmp_path):
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "common.txt").write_text("shared content")
    os.symlink(outside, tree / "linked")
    os.symlink(tree / "README", tree / "README.link")
    files = {f.target: f for f in select_files(str(tree), [], [], nuget_layout=False, never_pack=NeverPack()).files}
    assert (tree / files["linked/common.txt"].relative).read_text() == "shared content"
    assert files["README.link"].size == len("README")


def test_a_symlink_loop_is_followed_once_without_looping(tree, caplog):
    os.symlink(tree, tree / "docs" / "loop")
    found = targets(tree, ["docs/**"])
    assert found == ["docs/guide.md", "docs/img/logo.PNG"]
    assert "loops back" in caplog.text


def test_broken_symlinks_are_skipped_with_a_warning(tree, caplog):
    os.symlink(tree / "nowhere", tree / "dangling")
    assert "dangling" not in targets(tree)
    assert "does not exist" in caplog.text


def test_the_output_folders_packages_of_any_id_and_storage_folders_are_never_packed(tree, caplog):
    out = tree / "out"
    out.mkdir()
    ours = ["MyApp.1.0.0.zip", "myapp.0.9.nupkg", "Other.1.0.zip", "Web.App.2.0.0-beta.1+sha.5.NUPKG", ".~3fa9"]
    kept = ["notes.txt", "tool.zip", "Api.latest.zip", "Api.1.0.0.tar.gz", ".~partial"]
    for name in ours + kept:
        (out / name).write_text("x")
    (out / "nested").mkdir()
    (out / "nested" / "Deep.1.0.0.zip").write_text("x")  # only files directly in OUTPUT_PATH are ours
    storage = tree / ".bitbucket" / "pipelines" / "generated"
    storage.mkdir(parents=True)
    (storage / "state.json").write_text("{}")
    never = NeverPack(frozenset({_id(storage)}), _id(out))
    caplog.set_level(logging.DEBUG)
    packed = targets(tree, never=never)
    assert [name for name in packed if name.startswith("out/")] == sorted(
        f"out/{name}" for name in [*kept, "nested/Deep.1.0.0.zip"])
    assert not [name for name in packed if ".bitbucket" in name]
    assert caplog.text.count("it is a package this pipe could have written") == len(ours)


def test_a_package_in_the_output_folder_named_literally_is_packed(tree):
    out = tree / "out"
    out.mkdir()
    (out / "Web.1.0.0.zip").write_text("x")
    (out / "Api.1.0.0.zip").write_text("x")
    never = NeverPack(output_folder=_id(out))
    assert targets(tree, ["app.js", "out/Web.1.0.0.zip"], never=never) == ["app.js", "out/Web.1.0.0.zip"]
    assert "out/Api.1.0.0.zip" not in targets(tree, ["out/*.zip"], never=never)


@pytest.fixture
def with_vcs(tree: Path) -> Path:
    for name in [".git/HEAD", ".git/objects/ab/cdef", ".gitignore", ".gitattributes", ".gitmodules",
                 "lib/sub/.git", "lib/sub/.gitignore", "lib/sub/code.c",
                 "legacy/.svn/entries", "legacy/.hg/store/data", "legacy/a.txt"]:
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    return tree


def test_version_control_metadata_is_left_out_but_tracked_git_files_are_packed(with_vcs, caplog):
    caplog.set_level(logging.DEBUG)
    for includes in ([], ["**"], ["**/*"], ["*", "lib/**", "legacy/"]):
        packed = targets(with_vcs, includes)
        assert not [name for name in packed if "/.git/" in f"/{name}" or ".svn/" in name or ".hg/" in name
                    or name.endswith("/.git")], includes
        assert {".gitignore", ".gitattributes", ".gitmodules"} <= set(packed) or includes[:1] == ["*"]
        assert {"lib/sub/code.c", "legacy/a.txt"} <= set(packed)
    caplog.clear()
    targets(with_vcs)
    lines = [record.getMessage() for record in caplog.records if "version-control" in record.getMessage()]
    assert lines == [
        "Not packing '.git/': version-control metadata (INCLUDE '.git/**' packs it).",
        "Not packing 'legacy/.hg/': version-control metadata (INCLUDE 'legacy/.hg/**' packs it).",
        "Not packing 'legacy/.svn/': version-control metadata (INCLUDE 'legacy/.svn/**' packs it).",
        "Not packing 'lib/sub/.git': version-control metadata (INCLUDE 'lib/sub/.git' packs it).",
    ]


@pytest.mark.parametrize(("includes", "expected"), [
    ([".git/**"], [".git/HEAD", ".git/objects/ab/cdef"]),
    (["./.git/"], [".git/HEAD", ".git/objects/ab/cdef"]),
    (["**/.git/**"], [".git/HEAD", ".git/objects/ab/cdef"]),
    (["legacy/.hg/"], ["legacy/.hg/store/data"]),
    (["lib/sub/.git"], ["lib/sub/.git"]),
    (["**/.svn/**", "legacy/*"], ["legacy/.svn/entries", "legacy/a.txt"]),
])
def test_an_include_naming_a_version_control_folder_packs_it(with_vcs, includes, expected, caplog):
    caplog.set_level(logging.DEBUG)
    assert targets(with_vcs, includes) == expected


def test_packing_everything_and_git_explicitly_packs_git_without_a_debug_line(with_vcs, caplog):
    caplog.set_level(logging.DEBUG)
    packed = targets(with_vcs, ["**", ".git/**"])
    assert ".git/HEAD" in packed and "lib/sub/.git" not in packed
    assert "Not packing '.git/'" not in caplog.text
    assert "Not packing 'legacy/.hg/'" in caplog.text and "Not packing 'lib/sub/.git'" in caplog.text


def _id(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino
