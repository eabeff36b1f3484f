"""The built image run as Bitbucket runs a pipe: variables in the environment, the clone mounted at its path."""

import os
import random
import subprocess
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest

from fixtures_container import run_container

pytestmark = pytest.mark.container

PACKAGE_ID = "MyCompany.MyApp"
VERSION = "1.0.0.0"


def write_random_code(root: Path) -> dict[str, bytes]:
    """A `code` folder of files with random content, as the original pipe's bats test made; returns it."""
    rng = random.Random()
    files = {
        "test-content.txt": f"{rng.randrange(1 << 30)}\n".encode(),
        "bin/app.dll": rng.randbytes(4096),
        "wwwroot/css/site.css": f"body {{ margin: {rng.randrange(100)}px; }}\n".encode(),
        "name with spaces.txt": b"spaces survive\n",
    }
    for name, content in files.items():
        path = root / "code" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def pack_env(package_format: str, **extra: str) -> dict[str, str]:
    return {
        "ID": PACKAGE_ID,
        "FORMAT": package_format,
        "VERSION": VERSION,
        "SOURCE_PATH": "code",
        "OUTPUT_PATH": "out",
        "DEBUG": "false",
        **extra,
    }


def is_nupkg_part(name: str) -> bool:
    """The nuspec and the OPC bookkeeping entries, which Octopus skips when it unpacks a nupkg."""
    return name.endswith(".nuspec") or name == "[Content_Types].xml" or name.startswith(("_rels/", "package/"))


def tree(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_zip_package_unzips_to_the_source(run_pipe_container, container_workdir: Path) -> None:
    files = write_random_code(container_workdir)

    run = run_pipe_container(pack_env("zip"), container_workdir)

    assert run.returncode == 0, run.output
    assert "✔" in run.stdout
    package = container_workdir / "out" / f"{PACKAGE_ID}.{VERSION}.zip"
    extract = container_workdir / "extract"
    # The real unzip, as users and Octopus' own tooling would open it.
    subprocess.run(["unzip", "-q", str(package), "-d", str(extract)], check=True)
    assert tree(extract) == files


def test_nupkg_package_has_a_nuspec_and_the_files(run_pipe_container, container_workdir: Path) -> None:
    files = write_random_code(container_workdir)

    run = run_pipe_container(pack_env("nupkg"), container_workdir)

    assert run.returncode == 0, run.output
    package = container_workdir / "out" / f"{PACKAGE_ID}.{VERSION}.nupkg"
    # 7-Zip's own test of the archive, independent of Python's zipfile.
    subprocess.run(["7z", "t", str(package)], check=True, capture_output=True)
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        nuspec = archive.read(f"{PACKAGE_ID}.nuspec").decode()
        # Payload entry names are URI-escaped, as in every OPC package; Octopus unescapes them.
        payload = {unquote(name): archive.read(name) for name in names if not is_nupkg_part(name)}
    assert payload == files
    assert {"[Content_Types].xml", "_rels/.rels"} <= names
    assert f"<id>{PACKAGE_ID}</id>" in nuspec
    assert f"<version>{VERSION}</version>" in nuspec


def test_extra_args_arrive_as_a_bitbucket_array(run_pipe_container, container_workdir: Path) -> None:
    write_random_code(container_workdir)
    # What Bitbucket passes for EXTRA_ARGS: ['--description', 'text containing spaces', '--verbose'].
    arguments = ["--description", "text containing spaces", "--verbose"]
    env = pack_env("nupkg", EXTRA_ARGS_COUNT=str(len(arguments)))
    env.update({f"EXTRA_ARGS_{index}": value for index, value in enumerate(arguments)})

    run = run_pipe_container(env, container_workdir)

    assert run.returncode == 0, run.output
    with zipfile.ZipFile(container_workdir / "out" / f"{PACKAGE_ID}.{VERSION}.nupkg") as archive:
        nuspec = archive.read(f"{PACKAGE_ID}.nuspec").decode()
    assert "<description>text containing spaces</description>" in nuspec


def test_bad_input_fails_with_one_clear_line(run_pipe_container, container_workdir: Path) -> None:
    write_random_code(container_workdir)

    run = run_pipe_container(pack_env("tarball"), container_workdir)

    assert run.returncode == 1, run.output
    assert any("✖" in line and "FORMAT" in line for line in run.stdout.splitlines()), run.output
    assert "Traceback" not in run.output
    assert not (container_workdir / "out").exists()


def test_missing_required_variable_names_it(run_pipe_container, container_workdir: Path) -> None:
    env = pack_env("zip")
    del env["ID"]

    run = run_pipe_container(env, container_workdir)

    assert run.returncode == 1, run.output
    assert "✖" in run.stdout
    assert "ID" in run.stdout


def test_debug_shows_more_and_still_packs(run_pipe_container, container_workdir: Path) -> None:
    write_random_code(container_workdir)

    quiet = run_pipe_container(pack_env("zip"), container_workdir)
    chatty = run_pipe_container(pack_env("zip", DEBUG="true", OUTPUT_PATH="out-debug"), container_workdir)

    assert quiet.returncode == 0, quiet.output
    assert chatty.returncode == 0, chatty.output
    assert "DEBUG" in chatty.output
    assert "DEBUG" not in quiet.output


def test_writes_only_the_package_into_the_mount(run_pipe_container, container_workdir: Path) -> None:
    write_random_code(container_workdir)
    before = set(tree(container_workdir))

    run = run_pipe_container(pack_env("zip"), container_workdir)

    assert run.returncode == 0, run.output
    assert set(tree(container_workdir)) - before == {f"out/{PACKAGE_ID}.{VERSION}.zip"}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the working folder to another user")
def test_package_belongs_to_the_owner_of_the_working_folder(run_pipe_container, container_workdir: Path) -> None:
    user, group = 1000, 1000
    write_random_code(container_workdir)
    for path in (container_workdir, *container_workdir.rglob("*")):
        os.chown(path, user, group)

    run = run_pipe_container(pack_env("zip"), container_workdir)

    assert run.returncode == 0, run.output
    out = container_workdir / "out"
    package = out / f"{PACKAGE_ID}.{VERSION}.zip"
    assert (out.stat().st_uid, out.stat().st_gid) == (user, group)
    assert (package.stat().st_uid, package.stat().st_gid) == (user, group)


def test_image_is_labelled_and_runs_as_root(docker_client, pipe_image: str) -> None:
    config = docker_client.images.get(pipe_image).attrs["Config"]
    labels = config["Labels"] or {}

    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.version"]
    assert config.get("User", "") in ("", "root", "0")
    assert "PYTHONUNBUFFERED=1" in config["Env"]


IMPORT_EVERYTHING = """
import importlib, pkgutil, sys
import octopus_pack
names = ["pipe"] + [m.name for m in pkgutil.walk_packages(octopus_pack.__path__, "octopus_pack.")]
failed = []
for name in names:
    try:
        importlib.import_module(name)
    except Exception as error:
        failed.append(f"{name}: {error!r}")
print(len(names), "modules")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_in_the_image(docker_client, pipe_image: str, container_workdir: Path) -> None:
    """requirements.txt must cover every import, also of code the packing tests do not reach (pushes)."""
    interpreter, script = docker_client.images.get(pipe_image).attrs["Config"]["Entrypoint"]
    code = f"import sys; sys.path.insert(0, {str(Path(script).parent)!r})\n{IMPORT_EVERYTHING}"

    run = run_container(docker_client, pipe_image, {}, container_workdir, entrypoint=[interpreter, "-c", code])

    assert run.returncode == 0, run.output
