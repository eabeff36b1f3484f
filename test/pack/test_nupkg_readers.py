"""What NuGet readers see in our nupkgs: every part must resolve to a content type, or a reader drops the file.

Two readers that are not our code judge the packages: a minimal OPC resolver written here from the standard
(ECMA-376 Part 2, the rules System.IO.Packaging applies), and, when Mono and Debian's NuGet are installed
(`apt-get install mono-mcs nuget`; ci-scripts/docker-engine.sh does), Mono's System.IO.Packaging and NuGet.Core
themselves, through a small C# program compiled for the test.
"""

import logging
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest

from octopus_pack.errors import PipeError
from octopus_pack.pack import nuget, packager
from octopus_pack.pack.nuget import NuspecMetadata
from octopus_pack.pack.packager import PackRequest, build_package

CONTENT_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
DEFAULT, OVERRIDE = f"{CONTENT_TYPES}Default", f"{CONTENT_TYPES}Override"
NUGET_CORE = Path("/usr/lib/nuget/NuGet.Core.dll")
# Names the readers used to drop: extension-less ones that need escaping, and one with a non-ASCII extension.
AWKWARD_FILES = {
    "a+b": b"plus",
    "noext file": b"space",
    "日本": b"kanji",
    "lib/file.日本": b"kanji extension",
    "bin/run": b"#!/bin/sh\n",
    "web.config": b"<configuration />",
    "docs/read me (1).txt": b"brackets",
}

READER_SOURCE = r"""
using System; using System.IO; using System.IO.Packaging;
class Reader {
  static int Main(string[] args) {
    if (args[0] == "opc") {
      using (var package = Package.Open(args[1], FileMode.Open, FileAccess.Read))
        foreach (var part in package.GetParts()) Console.WriteLine(Uri.UnescapeDataString(part.Uri.OriginalString));
    } else {
      foreach (var file in new NuGet.ZipPackage(args[1]).GetFiles()) Console.WriteLine(file.Path.Replace('\\', '/'));
    }
    return 0;
  }
}
"""


def pack_nupkg(tmp_path: Path, files: dict[str, bytes], **options) -> Path:
    source = tmp_path / "source"
    for name, data in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    metadata = NuspecMetadata("Acme.Web", "1.0.0", ("@",), "A deployment package created from files on disk.")
    request = PackRequest("Acme.Web", "1.0.0", "nupkg", source, tmp_path / "out", metadata=metadata, **options)
    return build_package(request).path


def opc_content_types(package: zipfile.ZipFile) -> tuple[dict[str, str], dict[str, str]]:
    """Defaults by lower-cased extension and Overrides by lower-cased part name (OPC compares ASCII case-blind)."""
    root = ET.fromstring(package.read("[Content_Types].xml"))
    defaults = {item.get("Extension").lower(): item.get("ContentType") for item in root.iter(DEFAULT)}
    overrides = {item.get("PartName").lower(): item.get("ContentType") for item in root.iter(OVERRIDE)}
    return defaults, overrides


def opc_content_type(part_name: str, defaults: dict[str, str], overrides: dict[str, str]) -> str | None:
    """ECMA-376 Part 2, 10.1.2.4: an Override for the exact part name, else the Default for its extension."""
    if part_name.lower() in overrides:
        return overrides[part_name.lower()]
    last_segment = part_name.rsplit("/", 1)[-1]
    if "." not in last_segment:
        return None
    return defaults.get(last_segment.rsplit(".", 1)[-1].lower())


def test_every_part_resolves_to_a_content_type_by_its_exact_escaped_part_name(tmp_path):
    path = pack_nupkg(tmp_path, AWKWARD_FILES)

    with zipfile.ZipFile(path) as package:
        defaults, overrides = opc_content_types(package)
        parts = ["/" + name for name in package.namelist() if name != "[Content_Types].xml"]
        unresolved = [part for part in parts if opc_content_type(part, defaults, overrides) is None]
        kept = {unquote(part[1:]): package.read(part[1:]) for part in parts}

    assert unresolved == []
    assert all(part.isascii() and " " not in part for part in parts)  # zip item names are escaped part names
    assert {name: kept[name] for name in AWKWARD_FILES} == AWKWARD_FILES


def test_overrides_name_only_parts_that_exist(tmp_path):
    path = pack_nupkg(tmp_path, AWKWARD_FILES)

    with zipfile.ZipFile(path) as package:
        _defaults, overrides = opc_content_types(package)
        parts = {"/" + name.lower() for name in package.namelist()}

    assert sorted(overrides) == sorted(["/a%2bb", "/noext%20file", "/%e6%97%a5%e6%9c%ac", "/bin/run"])
    assert set(overrides) <= parts


def test_a_root_package_folder_today_s_nuget_drops_gets_one_warning_naming_it_and_the_readers(tmp_path, caplog):
    files = {"Package/a.txt": b"a", "Package/sub/b.txt": b"b", "package.json": b"{}", "app.js": b"1"}

    with caplog.at_level(logging.WARNING):
        pack_nupkg(tmp_path, files)

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == ["NuGet clients (nuget.exe, dotnet) leave out 'Package/' (packages.config installs leave out "
                        "the root folder 'package') when they read a nupkg; Octopus deploys it. If a NuGet client must "
                        "read it, use FORMAT: 'zip' or rename it."]


def test_rels_content_types_psmdcp_and_root_nupkg_files_get_a_warning_each(tmp_path, caplog):
    files = {"templates/_rels/.rels": b"r", "docs/old.psmdcp": b"p", "vendor.1.0.0.nupkg": b"n",
             "lib/vendor.1.0.0.nupkg": b"kept", "app.js": b"1", "templates/[Content_Types].xml": b"t"}

    with caplog.at_level(logging.WARNING):
        pack_nupkg(tmp_path, files)

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert [line.split("' ")[0] for line in warnings] == [
        "NuGet clients (nuget.exe, dotnet) leave out 'docs/old.psmdcp", "NuGet clients (nuget.exe, dotnet) leave out "
        "'templates/[Content_Types].xml", "NuGet clients (nuget.exe, dotnet) leave out 'templates/_rels/.rels",
        "NuGet clients (nuget.exe, dotnet) leave out 'vendor.1.0.0.nupkg"]
    assert all("PackageReference restores leave out" in line for line in warnings)


@pytest.mark.parametrize("folder", ["packages", "Package.Data", "_rels_backup"])
def test_folders_only_nuget_core_2_drops_get_a_debug_line_not_a_warning(tmp_path, caplog, folder):
    files = {f"{folder}/a.txt": b"a", f"{folder}/sub/b.txt": b"b", "app.js": b"1"}

    with caplog.at_level(logging.DEBUG):
        pack_nupkg(tmp_path, files)

    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []
    notes = [record.getMessage() for record in caplog.records if "NuGet.Core" in record.getMessage()]
    assert notes == [f"Only NuGet.Core (nuget.exe 2.x) leaves out the files in '{folder}/' of a nupkg; today's "
                     "NuGet and Octopus read them."]


def test_ordinary_folders_and_root_files_named_package_get_no_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        pack_nupkg(tmp_path, {"package.json": b"{}", "src/packages/a.txt": b"a", "rels/x.txt": b"x",
                              "docs/[Content_Types].xml.in": b"<Types/>", "docs/.signature.p7s": b"p7s",
                              ".Signature.p7s": b"not the signature", "sub/_rels/y.txt": b"y"})

    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(("name", "reason"), [
    ("[Content_Types].xml", "starts with '[Content_Types].xml'"),
    ("[content_types].XML.bak", "starts with '[Content_Types].xml'"),
    ("cache/Acme.Web.1.0.0.nupkg.sha512", "ends in '.nupkg.sha512'"),
    (".signature.p7s", "(NU3005)"),
    ("_rels/notes.txt", "root folder '_rels'"),
    ("_RELS/.rels", "root folder '_rels'"),
    ("package/services/metadata/x.txt", "'package/services/metadata'"),
])
def test_a_file_today_s_nuget_or_octopus_would_drop_is_refused_naming_it_and_writing_nothing(tmp_path, name, reason):
    with pytest.raises(PipeError) as raised:
        pack_nupkg(tmp_path, {name: b"x", "app.js": b"1"})

    message = str(raised.value)
    assert message.startswith(f"'{name}' cannot go into a nupkg: NuGet")  # then why, and the fix
    assert reason in message and message.endswith("EXCLUDE it, or use FORMAT: 'zip'.")
    assert not (tmp_path / "out").exists()


def test_the_refusal_names_the_source_file_when_the_nupkg_layout_moves_it(tmp_path):
    with pytest.raises(PipeError, match=r"^'bin/\[Content_Types\]\.xml' \(packed as '\[Content_Types\]\.xml'\)"):
        pack_nupkg(tmp_path, {"bin/[Content_Types].xml": b"x"}, includes=["bin/**"])


def test_a_backslash_separates_folders_in_a_nupkg_and_a_clash_with_a_real_folder_is_refused(tmp_path):
    path = pack_nupkg(tmp_path, {"a\\b.txt": b"backslash", "app.js": b"1"})
    with zipfile.ZipFile(path) as package:
        assert package.read("a/b.txt") == b"backslash"

    with pytest.raises(PipeError, match=r"^'a/b\.txt' and 'a\\b\.txt' would both be packed as 'a/b\.txt' in a nupkg"):
        pack_nupkg(tmp_path / "clash", {"a\\b.txt": b"backslash", "a/b.txt": b"slash"})


# --- Mono's System.IO.Packaging and NuGet.Core, when installed -------------------------------------------------


@pytest.fixture(scope="module")
def dotnet_reader(tmp_path_factory) -> Path:
    """A tiny C# program that lists what System.IO.Packaging or NuGet.Core read from a package."""
    if not (shutil.which("mcs") and shutil.which("mono") and NUGET_CORE.is_file()):
        pytest.skip("Mono and Debian's nuget are not installed: apt-get install mono-mcs nuget")
    folder = tmp_path_factory.mktemp("reader")
    (folder / "reader.cs").write_text(READER_SOURCE)
    for dll in NUGET_CORE.parent.glob("*.dll"):
        shutil.copy(dll, folder)
    subprocess.run(["mcs", "-r:WindowsBase", f"-r:{NUGET_CORE}", "reader.cs", "-out:reader.exe"], cwd=folder,
                   check=True, capture_output=True)
    return folder / "reader.exe"


def read_with(reader: Path, mode: str, package: Path) -> set[str]:
    done = subprocess.run(["mono", str(reader), mode, str(package)], check=True, capture_output=True, text=True)
    return {line.lstrip("/") for line in done.stdout.splitlines() if line}


def test_mono_system_io_packaging_sees_every_file(dotnet_reader, tmp_path):
    path = pack_nupkg(tmp_path, AWKWARD_FILES)

    assert set(AWKWARD_FILES) <= read_with(dotnet_reader, "opc", path)


def test_nuget_core_sees_every_file(dotnet_reader, tmp_path):
    path = pack_nupkg(tmp_path, AWKWARD_FILES)

    assert read_with(dotnet_reader, "nuget", path) == set(AWKWARD_FILES)


# --- today's NuGet (nuget.exe 5.8, NuGet.Packaging), when installed ---------------------------------------------

NUGET_5_CANDIDATES = (os.environ.get("NUGET_EXE_5", ""),
                      str(Path.home() / ".cache/octopus-pack/nuget-exe/node_modules/nuget-exe/nuget-5.8.0.exe"))
NUGET_5_OWN_FILES = {"Acme.Web.1.0.0.nupkg", "acme.web.1.0.0.nupkg", "acme.web.1.0.0.nupkg.sha512", "acme.web.nuspec",
                     ".nupkg.metadata"}
# Refused: Octopus (Calamari) or a NuGet client leaves them out. Warned: only a NuGet client does. Kept: every reader.
REFUSED = ["[Content_Types].xml", "[Content_Types].xml.bak", "x.nupkg.sha512", "sub/y.nupkg.sha512", "_rels/f.txt",
           "package/services/metadata/e.txt"]
WARNED = ["package/d.txt", "sub/[Content_Types].xml", "docs/_rels/.rels", "docs/old.psmdcp", "vendor.1.0.0.nupkg"]
KEPT = ["app.js", "packages/a.txt", "Package.Data/b.txt", "_rels_backup/c.txt", "sub/[Content_Types].xml.in",
        "lib/vendor.1.0.0.nupkg", "docs/.signature.p7s"]


@pytest.fixture(scope="module")
def nuget_exe_5() -> Path:
    """nuget.exe 5.8 under Mono: `npm install --prefix ~/.cache/octopus-pack/nuget-exe nuget-exe@5.8.0`."""
    found = next((Path(path) for path in NUGET_5_CANDIDATES if path and Path(path).is_file()), None)
    if not (found and shutil.which("mono")):
        pytest.skip("nuget.exe 5.8 is not installed: npm install --prefix ~/.cache/octopus-pack/nuget-exe "
                    "nuget-exe@5.8.0, and apt-get install mono-complete")
    return found


def run_nuget_5(exe: Path, *arguments: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["mono", str(exe), *map(str, arguments), "-NonInteractive"], check=check,
                          capture_output=True, text=True, timeout=600)


def files_under(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()} - NUGET_5_OWN_FILES


def nuget_5_extracts(exe: Path, package: Path, scratch: Path) -> tuple[set[str], set[str]]:
    """The files a packages.config install and a PackageReference restore (add -Expand) extract."""
    flat = scratch / "flat"
    flat.mkdir(parents=True)
    shutil.copy(package, flat)
    run_nuget_5(exe, "install", "Acme.Web", "-Source", flat, "-OutputDirectory", scratch / "installed")
    run_nuget_5(exe, "add", package, "-Source", scratch / "feed", "-Expand")
    return files_under(scratch / "installed" / "Acme.Web.1.0.0"), files_under(scratch / "feed" / "acme.web" / "1.0.0")


def without_refusals(monkeypatch) -> None:
    """Pack what the pipe refuses, to show what the readers would do with it."""
    monkeypatch.setattr(packager, "_check_payload_names", lambda *unused: None)


def test_folders_only_nuget_core_drops_are_read_whole_by_nuget_5(nuget_exe_5, dotnet_reader, tmp_path):
    files = {"packages/a.txt": b"a", "Package.Data/b.txt": b"b", "_rels_backup/c.txt": b"c", "app.js": b"1"}
    path = pack_nupkg(tmp_path, files)

    installed, restored = nuget_5_extracts(nuget_exe_5, path, tmp_path / "nuget5")

    assert installed == restored == set(files)
    assert read_with(dotnet_reader, "nuget", path) == {"app.js"}  # NuGet.Core 2.x: hence its DEBUG line


def test_what_nuget_5_leaves_out_is_what_the_pipe_refuses_or_warns_about(nuget_exe_5, tmp_path, monkeypatch):
    without_refusals(monkeypatch)
    path = pack_nupkg(tmp_path, {name: name.encode() for name in REFUSED + WARNED + KEPT})

    installed, restored = nuget_5_extracts(nuget_exe_5, path, tmp_path / "nuget5")

    assert [name for name in REFUSED + WARNED if name in installed and name in restored] == []
    assert [name for name in KEPT if name not in installed or name not in restored] == []
    assert [name for name in REFUSED if not nuget.dropped_by_readers(nuget.part_name(name))] == []
    assert [name for name in WARNED + KEPT if nuget.dropped_by_readers(nuget.part_name(name))] == []
    assert installed - set(KEPT) == {"sub/[Content_Types].xml", "docs/_rels/.rels", "docs/old.psmdcp",
                                     "vendor.1.0.0.nupkg"}
    assert restored - set(KEPT) == {"[Content_Types].xml.bak", "x.nupkg.sha512", "sub/y.nupkg.sha512", "_rels/f.txt",
                                    "package/services/metadata/e.txt", "package/d.txt"}


def test_a_root_signature_p7s_makes_nuget_5_refuse_the_package_as_badly_signed(nuget_exe_5, tmp_path, monkeypatch):
    without_refusals(monkeypatch)
    plain = pack_nupkg(tmp_path / "plain", {"app.js": b"1", "docs/.signature.p7s": b"not at the root"})
    signed = pack_nupkg(tmp_path / "signed", {"app.js": b"1", ".signature.p7s": b"not a signature"})

    plain_check, signed_check = (run_nuget_5(nuget_exe_5, "verify", "-Signatures", package, check=False)
                                 for package in (plain, signed))

    assert "NU3005" not in plain_check.stdout + plain_check.stderr
    assert "NU3005: The package signature file entry is invalid" in signed_check.stdout + signed_check.stderr
