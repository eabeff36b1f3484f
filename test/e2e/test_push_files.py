"""PACKAGES: push packages built elsewhere, every format Octopus's built-in feed takes, as a native pipe run would.

Each test reads back what the fake Octopus server stored and received, and what the pipe printed.
"""

import bz2
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from bitbucket_clone import make_clone
from fixtures_pipe import PIPE_ENTRY, run_pipe_natively

NUSPEC = ('<?xml version="1.0" encoding="utf-8"?>\n'
          '<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"><metadata>'
          '<id>{id}</id><version>{version}</version><authors>Dev</authors><description>d</description>'
          '</metadata></package>')


def zip_bytes(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(files: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def nupkg_bytes(package_id: str, version: str) -> bytes:
    return zip_bytes({f"{package_id}.nuspec": NUSPEC.format(id=package_id, version=version).encode(),
                      "content/app.js": b"console.log(1)"})


CONTENT = {"app/index.html": b"<html>hello</html>", "app/run.sh": b"#!/bin/sh\necho hi\n"}
# One file per extension Octopus's built-in feed takes: file name -> (ID, version, bytes).
EVERY_FORMAT = {
    "Web.1.0.0.zip": ("Web", "1.0.0", zip_bytes(CONTENT)),
    "Api.2.1.0.jar": ("Api", "2.1.0", zip_bytes({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n"})),
    "Shop.1.0.0-beta.1.war": ("Shop", "1.0.0-beta.1", zip_bytes({"WEB-INF/web.xml": b"<web-app/>"})),
    "Erp.3.0.ear": ("Erp", "3.0", zip_bytes({"META-INF/application.xml": b"<application/>"})),
    "Conn.1.0.0.rar": ("Conn", "1.0.0", b"Rar!\x1a\x07\x00" + bytes(range(64))),
    "Site.1.0.0.tar": ("Site", "1.0.0", tar_bytes(CONTENT)),
    "Front.1.2.3.tar.gz": ("Front", "1.2.3", tar_bytes(CONTENT, "w:gz")),
    "Docs.1.0.0.tgz": ("Docs", "1.0.0", tar_bytes(CONTENT, "w:gz")),
    "Tools.1.0.0.tar.bz2": ("Tools", "1.0.0", tar_bytes(CONTENT, "w:bz2")),
    "Cli.1.0.0.tbz": ("Cli", "1.0.0", tar_bytes(CONTENT, "w:bz2")),
    "Old.1.0.0.tar.bz": ("Old", "1.0.0", bz2.compress(tar_bytes(CONTENT))),
    "Legacy.1.0.0.tar.Z": ("Legacy", "1.0.0", b"\x1f\x9d\x90" + bytes(range(32))),
    "Acme.Lib.4.0.0.nupkg": ("Acme.Lib", "4.0.0", nupkg_bytes("Acme.Lib", "4.0.0")),
}


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    return make_clone(tmp_path / "clone")


def push_env(clone: Path, octopus, patterns: list[str], **changes: str) -> dict[str, str]:
    head = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    env = {"OCTOPUS_SERVER": octopus.url, "OCTOPUS_APIKEY": octopus.api_key, "BITBUCKET_BUILD_NUMBER": "7",
           "BITBUCKET_COMMIT": head, "BITBUCKET_BRANCH": "main", "BITBUCKET_CLONE_DIR": str(clone),
           "BITBUCKET_REPO_FULL_NAME": "octo/shop", "BITBUCKET_GIT_HTTP_ORIGIN": "http://bitbucket.org/octo/shop",
           "PACKAGES_COUNT": str(len(patterns))}
    env.update({f"PACKAGES_{index}": pattern for index, pattern in enumerate(patterns)})
    env.update(changes)
    return env


def write(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def closing_line(run) -> str:
    lines = [line for line in run.output.splitlines() if "✔" in line or "✖" in line]
    assert len(lines) == 1, run.output
    return lines[0].split("✔ ", 1)[-1].split("✖ ", 1)[-1].replace("\x1b[0m", "")


def uploads(octopus) -> list[str]:
    return [record.upload.file_name for record in octopus.requests
            if record.kind in ("upload", "delta-upload") and record.upload]


def test_every_format_is_pushed_with_its_build_information(clone, octopus):
    write(clone / "dist", {name: data for name, (_, _, data) in EVERY_FORMAT.items()})
    run = run_pipe_natively(push_env(clone, octopus, ["dist/*"]), clone)
    assert run.returncode == 0, run.output
    assert closing_line(run) == f"Pushed 13 packages to {octopus.url}: 13 uploaded."
    assert uploads(octopus) == sorted(EVERY_FORMAT)  # one pattern's matches in path order
    for name, (package_id, version, data) in EVERY_FORMAT.items():
        stored = octopus.package(package_id, version)
        assert stored is not None, name
        assert stored.read_bytes() == data
        assert name.lower().endswith(stored.extension.lower())
        info = octopus.build_information_for(package_id, version)
        assert info["BuildNumber"] == "7" and info["Branch"] == "main", name
        assert [commit["Comment"].strip() for commit in info["Commits"]] == ["PET-1 second commit"]
    kinds = [record.kind for record in octopus.requests if record.kind in ("upload", "build-information")]
    assert kinds == ["build-information", "upload"] * 13  # each package's build information before it


def test_a_nupkg_is_pushed_under_its_nuspec_id_and_version_whatever_its_file_name(clone, octopus):
    write(clone / "bin", {"lib.nupkg": nupkg_bytes("Acme.Core", "2.0.0-rc.1")})
    run = run_pipe_natively(push_env(clone, octopus, ["bin/lib.nupkg"]), clone)
    assert run.returncode == 0, run.output
    assert uploads(octopus) == ["Acme.Core.2.0.0-rc.1.nupkg"]
    assert octopus.package_bytes("Acme.Core", "2.0.0-rc.1") == (clone / "bin" / "lib.nupkg").read_bytes()


def test_a_second_version_goes_as_a_delta_and_a_re_run_uploads_nothing(clone, octopus):
    shared = random.Random(5).randbytes(2 << 20)
    first = zip_bytes({"lib/big.bin": shared, "version.txt": b"1.0.0"}, zipfile.ZIP_STORED)
    second = zip_bytes({"lib/big.bin": shared, "version.txt": b"1.0.1"}, zipfile.ZIP_STORED)
    write(clone / "target", {"shop.1.0.0.jar": first})
    assert run_pipe_natively(push_env(clone, octopus, ["target/*.jar"]), clone).returncode == 0
    (clone / "target" / "shop.1.0.0.jar").unlink()
    write(clone / "target", {"shop.1.0.1.jar": second})
    octopus.clear_requests()
    run = run_pipe_natively(push_env(clone, octopus, ["target/*.jar"]), clone)
    assert run.returncode == 0, run.output
    assert closing_line(run) == f"Pushed 1 package to {octopus.url}: 1 uploaded (1 as a delta)."
    delta = octopus.requests_of("delta-upload")
    assert len(delta) == 1 and delta[0].upload.file_name == "shop.1.0.1.jar"
    assert delta[0].body_size < len(second) // 10
    assert not octopus.requests_of("upload")
    assert octopus.package_bytes("shop", "1.0.1") == second

    octopus.clear_requests()
    again = run_pipe_natively(push_env(clone, octopus, ["target/*.jar"]), clone)
    assert again.returncode == 0, again.output
    assert closing_line(again) == f"Pushed 1 package to {octopus.url}: 1 already there with identical content."
    assert uploads(octopus) == []


def test_pack_and_packages_push_the_new_package_first_then_the_listed_ones(clone, octopus, tmp_path):
    write(clone / "built", {"Api.1.0.0.tar.gz": tar_bytes(CONTENT, "w:gz"), "Db.1.0.0.zip": zip_bytes(CONTENT)})
    storage = tmp_path / "storage"
    env = push_env(clone, octopus, ["built/Db.*", "built/*.tar.gz"], ID="Web", FORMAT="zip", VERSION="1.0.0",
                   SOURCE_PATH="src", OUTPUT_PATH="out", BITBUCKET_PIPE_SHARED_STORAGE_DIR=str(storage))
    run = run_pipe_natively(env, clone)
    assert run.returncode == 0, run.output
    assert closing_line(run).endswith(f"and pushed it with 2 more packages to {octopus.url}: 3 uploaded.")
    assert uploads(octopus) == ["Web.1.0.0.zip", "Db.1.0.0.zip", "Api.1.0.0.tar.gz"]  # packed, then PACKAGES order
    document = json.loads((storage / "octopus-pack" / "package.json").read_text())
    assert document["OCTOPUS_PACK_ID"] == "Web"
    assert [(item["ID"], item["VERSION"], item["FORMAT"]) for item in document["OCTOPUS_PACK_PACKAGES"]] == [
        ("Web", "1.0.0", "zip"), ("Db", "1.0.0", "zip"), ("Api", "1.0.0", "tar.gz")]
    listed = document["OCTOPUS_PACK_PACKAGES"][2]
    assert listed["SHA256"] == hashlib.sha256((clone / "built" / "Api.1.0.0.tar.gz").read_bytes()).hexdigest()
    assert octopus.package("Api", "1.0.0").sha1 == hashlib.sha1((clone / "built" / "Api.1.0.0.tar.gz").read_bytes()
                                                                ).hexdigest()
    assert "FILE_COUNT" not in listed and document["OCTOPUS_PACK_PACKAGES"][0]["FILE_COUNT"] == "1"
    shell = subprocess.run(["bash", "-c", f"source {storage}/octopus-pack/package.env && "
                            "echo $OCTOPUS_PACK_PACKAGES_COUNT $OCTOPUS_PACK_PACKAGES_2_FILE_NAME"],
                           capture_output=True, text=True, check=True)
    assert shell.stdout.split() == ["3", "Api.1.0.0.tar.gz"]


def test_a_failure_part_way_names_what_is_in_octopus_and_a_re_run_finishes(clone, octopus):
    write(clone / "dist", {"A.1.0.0.zip": zip_bytes({"a": b"a"}), "B.1.0.0.zip": zip_bytes({"b": b"b"}),
                           "C.1.0.0.zip": zip_bytes({"c": b"c"})})
    octopus.add_package("B.1.0.0.zip", zip_bytes({"b": b"other"}))
    run = run_pipe_natively(push_env(clone, octopus, ["dist/*.zip"]), clone)
    assert run.returncode == 1, run.output
    line = closing_line(run)
    assert line.startswith("B.1.0.0.zip is already in Octopus (space 'Default' (Spaces-1)) with different content")
    assert line.endswith("Pushed 1 of 3 packages, 1 failed: A.1.0.0.zip is in Octopus; B.1.0.0.zip failed, and "
                         "C.1.0.0.zip was not tried. Run the step again to push the rest: packages already in "
                         "Octopus with identical content are not uploaded again.")
    assert uploads(octopus) == ["A.1.0.0.zip"]

    octopus.clear_requests()
    again = run_pipe_natively(push_env(clone, octopus, ["dist/*.zip"], OVERWRITE_MODE="OverwriteExisting"), clone)
    assert again.returncode == 0, again.output
    assert closing_line(again) == (f"Pushed 3 packages to {octopus.url}: 2 uploaded, 1 already there with "
                                   "identical content.")
    assert uploads(octopus) == ["B.1.0.0.zip", "C.1.0.0.zip"]
    assert octopus.package_bytes("B", "1.0.0") == (clone / "dist" / "B.1.0.0.zip").read_bytes()


GOOD_ZIP = zip_bytes(CONTENT)
# problem -> (files in the clone, PACKAGES patterns, other variables, the closing line)
BAD_INPUT = {
    "a pattern that matches nothing": (
        {"dist/A.1.0.0.zip": GOOD_ZIP}, ["dist/A.1.0.0.zip", "target/*.jar"], {},
        "PACKAGES item 2 'target/*.jar' matches no file in {clone}: check the path (it is relative to the working "
        "directory) and that the build step before wrote the package."),
    "a folder": (
        {"dist/A.1.0.0.zip": GOOD_ZIP, "dist/site/index.html": b"x"}, ["dist/*"], {},
        "PACKAGES item 1 'dist/*' matches the folder dist/site: list the package files in it, for example "
        "'dist/site/*.zip'."),
    "an empty file": (
        {"dist/A.1.0.0.zip": GOOD_ZIP, "dist/B.1.0.0.zip": b""}, ["dist/*.zip"], {},
        "PACKAGES file dist/B.1.0.0.zip is empty: the build did not finish writing it; build it again or remove it "
        "from PACKAGES."),
    "not the archive its extension says": (
        {"dist/A.1.0.0.zip": GOOD_ZIP, "dist/B.1.0.0.tar.gz": GOOD_ZIP}, ["dist/*"], {},
        "PACKAGES file dist/B.1.0.0.tar.gz is not a gzip-compressed tar, as its .tar.gz extension says: its first "
        "bytes are of another kind of file; list the real package or give it the right extension."),
    "a jar that is text": (
        {"target/app.1.0.0.jar": b"not a jar\n"}, ["target/app.1.0.0.jar"], {},
        "PACKAGES file target/app.1.0.0.jar is not a Java archive (a zip), as its .jar extension says: its first "
        "bytes are of another kind of file; list the real package or give it the right extension."),
    "a tar without its header": (
        {"dist/A.1.0.0.tar": b"x" * 1024}, ["dist/A.1.0.0.tar"], {},
        "PACKAGES file dist/A.1.0.0.tar is not a tar, as its .tar extension says: its first bytes are of another "
        "kind of file; list the real package or give it the right extension."),
    "a Maven name": (
        {"target/app-1.0.0.jar": GOOD_ZIP}, ["target/*.jar"], {},
        "PACKAGES file target/app-1.0.0.jar is not named {{ID}}.{{version}}.jar, the form Octopus reads the package "
        "ID and version from (Octopus would read it as package app-1 version 0.0): rename it to app.1.0.0.jar."),
    "a name without a version": (
        {"dist/site.zip": GOOD_ZIP}, ["dist/site.zip"], {},
        "PACKAGES file dist/site.zip is not named {{ID}}.{{version}}.zip, the form Octopus reads the package ID and "
        "version from: for example MyApp.1.0.0.zip."),
    "an extension Octopus does not take": (
        {"dist/A.1.0.0.7z": b"7z\xbc\xaf"}, ["dist/A.1.0.0.7z"], {},
        "PACKAGES file dist/A.1.0.0.7z is not a package Octopus takes: use one of .ear, .jar, .nupkg, .rar, .tar, "
        ".tar.bz, .tar.bz2, .tar.gz, .tar.Z, .tbz, .tgz, .war, .zip (the extension tells Octopus the format)."),
    "the same ID and version twice": (
        {"dist/App.1.0.zip": GOOD_ZIP, "target/app.1.0.0.jar": GOOD_ZIP}, ["dist/*.zip", "target/*.jar"], {},
        "PACKAGES file target/app.1.0.0.jar is package app version 1.0.0, as is dist/App.1.0.zip: Octopus keeps one "
        "file per package ID and version; list only one of them."),
    "the packed package again": (
        {"dist/Web.1.0.0.0.zip": GOOD_ZIP}, ["dist/*.zip"],
        {"ID": "Web", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": "src", "OUTPUT_PATH": "out"},
        "PACKAGES file dist/Web.1.0.0.0.zip is package Web version 1.0.0.0, as is the package this step packs: "
        "Octopus keeps one file per package ID and version; list only one of them."),
    "a nupkg without a nuspec": (
        {"bin/Lib.1.0.0.nupkg": GOOD_ZIP}, ["bin/*.nupkg"], {},
        "PACKAGES file bin/Lib.1.0.0.nupkg has no .nuspec files at its root, and a NuGet package has exactly one: "
        "build it with dotnet pack or nuget pack."),
    "some packing variables": (
        {"dist/A.1.0.0.zip": GOOD_ZIP}, ["dist/*.zip"], {"ID": "Web", "FORMAT": "zip"},
        "VERSION is required: add it to the pipe's variables, for example VERSION: '1.0.0'."),
    "no server": (
        {"dist/A.1.0.0.zip": GOOD_ZIP}, ["dist/*.zip"], {"OCTOPUS_SERVER": "", "OCTOPUS_APIKEY": ""},
        "PACKAGES lists files to push, but OCTOPUS_SERVER is not set: add OCTOPUS_SERVER and a credential such as "
        "OCTOPUS_APIKEY, or remove PACKAGES."),
}


@pytest.mark.parametrize("problem", BAD_INPUT)
def test_bad_input_is_one_line_and_nothing_is_sent(problem, clone, octopus):
    files, patterns, changes, expected = BAD_INPUT[problem]
    for name, data in files.items():
        write((clone / name).parent, {Path(name).name: data})
    run = run_pipe_natively(push_env(clone, octopus, patterns, **changes), clone)
    assert run.returncode == 1, run.output
    assert closing_line(run) == expected.format(clone=clone)
    assert "Traceback" not in run.output
    assert [record for record in octopus.requests if record.method == "POST"] == []
    assert octopus.packages() == []
    assert not (clone / "out").exists()  # nothing packed either


def test_an_unreadable_file_is_named(clone, octopus):
    write(clone / "dist", {"A.1.0.0.zip": GOOD_ZIP})
    os.symlink(clone / "gone.zip", clone / "dist" / "B.1.0.0.zip")  # readable by no one, root included
    run = run_pipe_natively(push_env(clone, octopus, ["dist/*.zip"]), clone)
    assert run.returncode == 1, run.output
    assert closing_line(run) == ("PACKAGES file dist/B.1.0.0.zip cannot be read (No such file or directory): check "
                                 "that the build wrote it and that the pipe may read it.")
    assert octopus.requests == [] and octopus.packages() == []


def test_with_push_package_false_only_the_build_information_of_each_file_is_pushed(clone, octopus):
    write(clone / "dist", {"A.1.0.0.zip": GOOD_ZIP, "B.2.0.0.tgz": tar_bytes(CONTENT, "w:gz")})
    run = run_pipe_natively(push_env(clone, octopus, ["dist/*"], PUSH_PACKAGE="false"), clone)
    assert run.returncode == 0, run.output
    assert closing_line(run) == (f"Pushed 2 packages to {octopus.url}: 2 with build information only "
                                 "(PUSH_PACKAGE is false).")
    assert octopus.packages() == [] and uploads(octopus) == []
    assert octopus.build_information_for("A", "1.0.0") and octopus.build_information_for("B", "2.0.0")


@pytest.mark.parametrize(("name", "identity"), [
    ("Shop.Web.1.4.0.tar.gz", ("Shop.Web", "1.4.0", "tar.gz")),
    ("SHOP.1.0.0-RC.1+sha.5.TAR.BZ2", ("SHOP", "1.0.0-RC.1+sha.5", "TAR.BZ2")),
    ("my_app-x.2.0.0.0.Jar", ("my_app-x", "2.0.0.0", "Jar")),
    ("Legacy.1.tar.Z", ("Legacy", "1", "tar.Z")),
    ("Acme_2.1.0.0.jar", ("Acme_2", "1.0.0", "jar")),
])
def test_the_id_and_version_are_read_from_the_name_as_octopus_does(tmp_path, name, identity):
    from octopus_pack.config.package_files import read_package_file

    data = {"tar.gz": tar_bytes(CONTENT, "w:gz"), "tar.bz2": tar_bytes(CONTENT, "w:bz2"), "jar": GOOD_ZIP,
            "tar.z": b"\x1f\x9d\x90data"}[identity[2].lower()]
    (tmp_path / name).write_bytes(data)
    package = read_package_file(tmp_path / name, name)
    assert (package.package_id, package.version, package.format) == identity
    assert package.upload_name == name
    assert package.sha1 == hashlib.sha1(data).hexdigest() and package.sha256 == hashlib.sha256(data).hexdigest()
    assert package.size == len(data) and package.file_count is None


@pytest.mark.parametrize(("left", "right", "same"), [
    ("1.0", "1.0.0", True), ("1.0.0.0", "1", True), ("1.0.0-Beta", "1.0-beta", True), ("1.0.0+abc", "1.0.0", True),
    ("1.0.1", "1.0.0", False), ("1.0.0-beta", "1.0.0", False), ("1.0.0-beta.1", "1.0.0-beta.2", False),
])
def test_octopus_version_equality(left, right, same):
    from octopus_pack.octopus.versions import same_version

    assert same_version(left, right) is same


def test_listed_files_go_over_every_route_and_survive_a_dropped_answer(route, tmp_path):
    """HTTP, HTTPS with OCTOPUS_CA_BUNDLE, and both through tinyproxy; the first answer is lost after storing."""
    write(tmp_path / "build" / "web", {"Front.1.0.0.tgz": tar_bytes(CONTENT, "w:gz")})
    write(tmp_path / "build" / "api", {"Api.1.0.0.war": zip_bytes({"WEB-INF/web.xml": b"<web-app/>"})})
    route.octopus.drop_next("upload")
    env = {**route.pipe_env(), "PACKAGES": "build/**/*.*", "PUSH_BUILD_INFORMATION": "false"}
    run = run_pipe_natively(env, tmp_path)
    assert run.returncode == 0, run.output
    assert closing_line(run) == f"Pushed 2 packages to {route.octopus.url}: 2 uploaded."
    assert route.octopus.package_bytes("Api", "1.0.0") == (tmp_path / "build/api/Api.1.0.0.war").read_bytes()
    assert route.octopus.package_bytes("Front", "1.0.0") == (tmp_path / "build/web/Front.1.0.0.tgz").read_bytes()
    assert len(route.octopus.stored_copies("Api", "1.0.0")) == 1  # the dropped upload was not sent twice


def test_ignore_if_exists_keeps_a_different_copy_and_says_so(clone, octopus):
    old = zip_bytes({"a": b"old"})
    write(clone / "dist", {"A.1.0.0.zip": zip_bytes({"a": b"new"})})
    octopus.add_package("A.1.0.0.zip", old)
    run = run_pipe_natively(push_env(clone, octopus, ["dist/A.1.0.0.zip"], OVERWRITE_MODE="IgnoreIfExists"), clone)
    assert run.returncode == 0, run.output
    assert closing_line(run) == (f"Pushed 1 package to {octopus.url}: 1 already there with other content, kept "
                                 "(OVERWRITE_MODE IgnoreIfExists).")
    assert uploads(octopus) == [] and octopus.package_bytes("A", "1.0.0") == old


def test_a_cancelled_push_of_listed_files_says_what_octopus_may_lack(tmp_path, octopus):
    from test_interrupts import closing_line as stopped_line
    from test_interrupts import wait_for_request

    write(tmp_path / "dist", {"A.1.0.0.zip": GOOD_ZIP})
    octopus.set_delay("upload", 30)
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "OCTOPUS_SERVER": octopus.url,
           "OCTOPUS_APIKEY": octopus.api_key, "PACKAGES": "dist/*.zip", "PUSH_BUILD_INFORMATION": "false"}
    process = subprocess.Popen([sys.executable, str(PIPE_ENTRY)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    wait_for_request(octopus, "upload", process)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 1, output
    assert stopped_line(output) == (
        f"✖ Stopped by signal 15 while pushing to {octopus.url}: Octopus may not have every file of PACKAGES or its "
        "build information; run the step again to push the rest (files already there are not uploaded again).")
