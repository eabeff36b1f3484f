"""Publishing the finished file: link-or-fail without OVERWRITE, digests computed once, symbolic-link loops skipped."""

import hashlib
import logging
import os
import zipfile
from pathlib import Path

import pytest

from octopus_pack.errors import PipeError
from octopus_pack.pack import packager
from octopus_pack.pack.packager import PackRequest, build_package
from octopus_pack.pack.publish import PendingPackage


def request(tmp_path: Path, **changes) -> PackRequest:
    return PackRequest(**{"package_id": "MyApp", "version": "1.0.0", "format": "zip", "source_path": tmp_path / "src",
                          "output_path": tmp_path / "out", **changes})


@pytest.fixture
def source(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.js").write_text("console.log(1)")
    return tmp_path / "src"


def test_a_name_that_appears_while_packing_is_not_replaced(tmp_path, source, monkeypatch):
    """Another pack publishes the same name after our check: we fail with 'already exists' and leave theirs."""
    real_write = packager.ZipWorkers.write

    def someone_else_publishes_first(*args, **kwargs):
        (tmp_path / "out" / "MyApp.1.0.0.zip").write_bytes(b"theirs")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(packager.ZipWorkers, "write", someone_else_publishes_first)
    with pytest.raises(PipeError, match=r"MyApp\.1\.0\.0\.zip already exists: set OVERWRITE: 'true'"):
        build_package(request(tmp_path))
    assert os.listdir(tmp_path / "out") == ["MyApp.1.0.0.zip"]
    assert (tmp_path / "out" / "MyApp.1.0.0.zip").read_bytes() == b"theirs"


def test_overwrite_replaces_and_the_digests_match_the_file(tmp_path, source):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "MyApp.1.0.0.zip").write_bytes(b"old")
    result = build_package(request(tmp_path, overwrite=True))
    data = result.path.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.sha1 == hashlib.sha1(data).hexdigest()
    assert result.size == len(data)
    assert os.listdir(tmp_path / "out") == ["MyApp.1.0.0.zip"]


def test_symbolic_link_loops_and_dangling_links_are_warnings(tmp_path, source, caplog):
    caplog.set_level(logging.WARNING)
    os.symlink("self", source / "self")
    os.symlink("b", source / "a")
    os.symlink("a", source / "b")
    (source / "deep" / "er").mkdir(parents=True)
    os.symlink("../..", source / "deep" / "er" / "up")
    os.symlink("nowhere", source / "dangling")
    result = build_package(request(tmp_path))
    with zipfile.ZipFile(result.path) as archive:
        assert archive.namelist() == ["app.js"]
    warnings = caplog.text
    for name in ("self", "'" + str(source / "a") + "'", str(source / "b"), "up", "dangling"):
        assert name in warnings, warnings
    assert "loops" in warnings and "does not exist" in warnings and "loops back to a folder above it" in warnings


@pytest.fixture(params=["nameless", "named"])
def mode(request, monkeypatch) -> str:
    """Both ways a package is written: O_TMPFILE (no name until published) and a hidden temporary name."""
    if request.param == "named":
        monkeypatch.delattr(os, "O_TMPFILE")
    return request.param


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_pending_package_has_no_visible_name_until_published(tmp_path, mode, overwrite):
    pending = PendingPackage(tmp_path, "MyApp.1.0.0.zip")
    try:
        pending.out.write(b"package bytes")
        visible = os.listdir(tmp_path)
        assert visible == [] if mode == "nameless" else [name[:2] for name in visible] == [".~"]
        pending.publish(tmp_path / "MyApp.1.0.0.zip", overwrite)
    finally:
        pending.close()
    assert os.listdir(tmp_path) == ["MyApp.1.0.0.zip"]
    assert (tmp_path / "MyApp.1.0.0.zip").read_bytes() == b"package bytes"


def test_a_pending_package_that_is_abandoned_leaves_nothing(tmp_path, mode):
    pending = PendingPackage(tmp_path, "MyApp.1.0.0.zip")
    pending.out.write(b"half a package")
    pending.close()
    assert os.listdir(tmp_path) == []


def test_publishing_over_an_existing_name_without_overwrite_fails_and_keeps_it(tmp_path, mode):
    (tmp_path / "MyApp.1.0.0.zip").write_bytes(b"theirs")
    pending = PendingPackage(tmp_path, "MyApp.1.0.0.zip")
    try:
        pending.out.write(b"ours")
        with pytest.raises(PipeError, match="already exists"):
            pending.publish(tmp_path / "MyApp.1.0.0.zip", overwrite=False)
    finally:
        pending.close()
    assert os.listdir(tmp_path) == ["MyApp.1.0.0.zip"]
    assert (tmp_path / "MyApp.1.0.0.zip").read_bytes() == b"theirs"
