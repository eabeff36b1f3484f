"""Building packages in-process: what is on disk afterwards, byte for byte, and what is never left behind."""

import logging
import os
import stat
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octopus_pack.errors import PipeError
from octopus_pack.pack import zip_writer
from octopus_pack.pack.compression import CompressionLevel
from octopus_pack.pack.nuget import NuspecMetadata
from octopus_pack.pack.packager import EntryTimes, PackRequest, build_package
from octopus_pack.pack.selection import VCS_FOLDERS


def make_tree(base: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return base


def zip_request(source: Path, output: Path, **options) -> PackRequest:
    return PackRequest(options.pop("package_id", "MyCompany.MyApp"), options.pop("version", "1.0.0.0"),
                       options.pop("format", "zip"), source, output, **options)


def nupkg_request(source: Path, output: Path, **options) -> PackRequest:
    metadata = NuspecMetadata("MyCompany.MyApp", "1.0.0", ("@",), "A deployment package created from files on disk.")
    return PackRequest("MyCompany.MyApp", "1.0.0", "nupkg", source, output, metadata=metadata, **options)


def unpack(package: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(package) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


def test_the_package_holds_the_tree_and_its_name_keeps_the_version_verbatim(tmp_path):
    files = {"index.html": b"<html/>", "bin/app.dll": os.urandom(100), "empty": b""}
    result = build_package(zip_request(make_tree(tmp_path / "code", files), tmp_path / "out"))
    assert result.path == tmp_path / "out" / "MyCompany.MyApp.1.0.0.0.zip"
    assert unpack(result.path) == files
    assert result.file_count == 3
    assert result.size == result.path.stat().st_size
    assert len(result.sha256) == 64


def test_packing_the_clone_into_a_folder_inside_it_never_packs_packages_of_any_id(tmp_path):
    """The original article packs '.' into './out': earlier packages there must not end up inside."""
    source = make_tree(tmp_path / "repo", {"app.js": b"js", "out/MyCompany.MyApp.0.9.0.zip": b"old",
                                           "out/other.txt": b"kept"})
    result = build_package(zip_request(source, source / "out"))
    assert sorted(unpack(result.path)) == ["app.js", "out/other.txt"]
    again = build_package(zip_request(source, source / "out", version="1.0.0.1"))
    assert sorted(unpack(again.path)) == ["app.js", "out/other.txt"]
    other_id = build_package(zip_request(source, source / "out", package_id="Web"))
    assert sorted(unpack(other_id.path)) == ["app.js", "out/other.txt"]


def test_the_output_folder_is_created_with_its_parents(tmp_path):
    source = make_tree(tmp_path / "code", {"a.txt": b"a"})
    result = build_package(zip_request(source, tmp_path / "deep" / "er" / "out"))
    assert result.path.is_file()


def test_an_existing_package_needs_overwrite_and_is_then_replaced_whole(tmp_path):
    source = make_tree(tmp_path / "code", {"big.txt": b"x" * 100_000, "small.txt": b"s"})
    first = build_package(zip_request(source, tmp_path / "out", compression=CompressionLevel.NONE))
    with pytest.raises(PipeError, match=r"already exists: set OVERWRITE: 'true'"):
        build_package(zip_request(source, tmp_path / "out"))
    (source / "big.txt").unlink()
    second = build_package(zip_request(source, tmp_path / "out", overwrite=True))
    assert second.size < first.size
    assert unpack(second.path) == {"small.txt": b"s"}


def test_a_failure_while_writing_leaves_nothing_behind_and_the_old_package_untouched(tmp_path, monkeypatch):
    source = make_tree(tmp_path / "code", {f"f{i}.txt": b"data" * i for i in range(200)})
    old = build_package(zip_request(source, tmp_path / "out"))
    old_bytes = old.path.read_bytes()
    real = zip_writer._compress_small

    def failing(path, data, size, compress):  # runs in a worker process: the error travels back to the writer
        if path.endswith("/f150.txt"):
            raise PipeError("disk on fire")
        return real(path, data, size, compress)

    monkeypatch.setattr(zip_writer, "_compress_small", failing)
    with pytest.raises(PipeError, match="disk on fire"):
        build_package(zip_request(source, tmp_path / "out", overwrite=True))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [old.path.name]
    assert old.path.read_bytes() == old_bytes


def test_reproducible_mode_gives_identical_bytes_when_only_times_and_umask_differ(tmp_path):
    files = {"a.txt": b"alpha" * 1000, "sub/b.bin": os.urandom(3000), "run.sh": b"#!/bin/sh\n"}
    packages = []
    for attempt, (mtime, mode) in enumerate([(1_000_000_000, 0o644), (1_600_000_000, 0o664)]):
        source = make_tree(tmp_path / f"clone{attempt}", files)
        for path in source.rglob("*"):
            if path.is_file():
                path.chmod(0o775 if path.name == "run.sh" else mode)
                os.utime(path, (mtime, mtime))
        for fmt in (zip_request, nupkg_request):
            request = fmt(source, tmp_path / f"out{attempt}", entry_times=EntryTimes(1_700_000_000))
            packages.append(build_package(request))
    assert packages[0].path.read_bytes() == packages[2].path.read_bytes()
    assert packages[1].path.read_bytes() == packages[3].path.read_bytes()
    with zipfile.ZipFile(packages[0].path) as zf:
        assert {info.date_time for info in zf.infolist()} == {(2023, 11, 14, 22, 13, 20)}
        assert zf.getinfo("run.sh").external_attr >> 16 == stat.S_IFREG | 0o755
        assert zf.getinfo("a.txt").external_attr >> 16 == stat.S_IFREG | 0o644


def test_a_nupkg_has_octos_part_order_and_escaped_payload_names(tmp_path):
    source = make_tree(tmp_path / "code", {"my file (1).txt": b"x", "LICENSE": b"MIT", "old.nuspec": b"<x/>"})
    result = build_package(nupkg_request(source, tmp_path / "out"))
    with zipfile.ZipFile(result.path) as zf:
        names = zf.namelist()
    assert names[:2] == ["_rels/.rels", "MyCompany.MyApp.nuspec"]
    assert names[2:4] == ["LICENSE", "my%20file%20%281%29.txt"]
    assert names[4] == "[Content_Types].xml"
    assert names[5].startswith("package/services/metadata/core-properties/") and names[5].endswith(".psmdcp")
    assert result.file_count == 3


def test_an_empty_nupkg_is_an_error_and_writes_nothing(tmp_path):
    source = make_tree(tmp_path / "code", {"a.txt": b"a"})
    with pytest.raises(PipeError, match="a nupkg cannot be empty"):
        build_package(nupkg_request(source, tmp_path / "out", excludes=["**"]))
    assert not (tmp_path / "out").exists()


def test_an_empty_zip_is_written_with_a_warning_as_octo_did(tmp_path, caplog):
    source = make_tree(tmp_path / "code", {"a.txt": b"a"})
    result = build_package(zip_request(source, tmp_path / "out", excludes=["**"]))
    assert unpack(result.path) == {}
    assert "the zip will be empty" in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files away, as Bitbucket's pipes run")
def test_files_written_as_root_belong_to_the_owner_of_the_folder_they_land_in(tmp_path):
    source = make_tree(tmp_path / "code", {"a.txt": b"a"})
    os.chown(tmp_path, 1234, 2345)
    result = build_package(zip_request(source, tmp_path / "out" / "nested"))
    for path in (tmp_path / "out", tmp_path / "out" / "nested", result.path):
        assert (path.stat().st_uid, path.stat().st_gid) == (1234, 2345)


names = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\0"),
                min_size=1, max_size=12).filter(lambda n: n not in {".", "..", *VCS_FOLDERS} and n == n.strip())
trees = st.dictionaries(
    st.lists(names, min_size=1, max_size=6).map("/".join),
    st.tuples(st.binary(max_size=3000), st.sampled_from([0o644, 0o755, 0o600, 0o700, 0o444]),
              st.sampled_from([-2_000_000_000, 0, 315_532_800, 1_700_000_000, 5_000_000_000])),
    min_size=1, max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=trees, with_symlink=st.booleans(), level=st.sampled_from(list(CompressionLevel)))
def test_random_trees_round_trip_with_identical_content_and_modes(tmp_path_factory, tree, with_symlink, level):
    base = tmp_path_factory.mktemp("tree")
    source = base / "src"
    written: dict[str, tuple[bytes, int]] = {}
    for name, (data, mode, mtime) in tree.items():
        path = source / name
        if any(parent.is_file() for parent in path.parents) or path.is_dir():
            continue  # a name that is also used as a folder
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
        os.utime(path, (mtime, mtime))
        written[name] = (data, mode)
    if with_symlink and written:
        first = sorted(written)[0]
        os.symlink(source / first, source / "link-to-first")
        written["link-to-first"] = written[first]
    result = build_package(zip_request(source, base / "out", compression=level))
    with zipfile.ZipFile(result.path) as zf:
        assert zf.testzip() is None
        unpacked = {info.filename: (zf.read(info), stat.S_IMODE(info.external_attr >> 16)) for info in zf.infolist()}
    assert unpacked == written


@pytest.fixture
def two_cores(monkeypatch):
    """Two workers whatever this machine has, so the work really runs in other processes."""
    monkeypatch.setattr(zip_writer, "usable_cores", lambda: 2)


def test_what_selection_logs_is_logged_once_at_the_level_asked_for(tmp_path, two_cores, caplog):
    source = make_tree(tmp_path / "repo", {"app.js": b"js", "out/MyCompany.MyApp.0.9.0.zip": b"old"})
    os.symlink("nowhere", source / "dangling")
    caplog.set_level(logging.INFO)
    build_package(zip_request(source, source / "out"))
    assert [record.levelname for record in caplog.records if "dangling" in record.getMessage()] == ["WARNING"]
    assert "it is a package this pipe could have written" not in caplog.text  # DEBUG, and DEBUG is off
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    build_package(zip_request(source, source / "out", version="1.0.0.1", overwrite=True))
    assert caplog.text.count("it is a package this pipe could have written") == 2  # 0.9.0 and the 1.0.0.0 just written
    assert caplog.text.count("dangling") == 1


def test_a_selection_error_with_workers_started_is_one_line_and_leaves_no_folder(tmp_path, two_cores):
    source = make_tree(tmp_path / "code", {"app.js": b"js"})
    with pytest.raises(PipeError, match=r"^INCLUDE names 'missing\.txt', which is not a file under SOURCE_PATH"):
        build_package(zip_request(source, tmp_path / "out", includes=["missing.txt"]))
    assert not (tmp_path / "out").exists()
