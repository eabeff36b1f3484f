"""`python3 pipe/pipe.py` end to end, as the README and the original article use it, with every packing error."""

import random
import subprocess
import zipfile
from pathlib import Path

import pytest

from fixtures_pipe import run_pipe_natively

ARTICLE = {"ID": "randomquotes-js", "FORMAT": "Zip", "VERSION": "1.0.0.0", "SOURCE_PATH": ".",
           "OUTPUT_PATH": "./out", "DEBUG": "false"}


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A small repository checkout to pack."""
    for name, text in {"package.json": "{}", "src/app.js": "console.log(1)", "public/index.html": "<html/>",
                       ".gitignore": "node_modules\n"}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_articles_bats_scenario_random_content_zip_unzip_compare(tmp_path):
    """The original pipe's test: random content in test/code, pack it as a zip, unzip it, compare."""
    number = str(random.randint(0, 32767))
    (tmp_path / "test" / "code").mkdir(parents=True)
    (tmp_path / "test" / "code" / "test-content.txt").write_text(number + "\n")
    run = run_pipe_natively({"ID": "MyCompany.MyApp", "FORMAT": "zip", "VERSION": "1.0.0.0",
                             "SOURCE_PATH": "test/code", "OUTPUT_PATH": "test/out", "DEBUG": "false"}, tmp_path)
    assert run.returncode == 0, run.output
    package = tmp_path / "test" / "out" / "MyCompany.MyApp.1.0.0.0.zip"
    subprocess.run(["unzip", "-q", str(package), "-d", str(tmp_path / "test" / "out" / "extract")], check=True)
    assert number in (tmp_path / "test" / "out" / "extract" / "test-content.txt").read_text()
    assert "Packaging successful. Created package test/out/MyCompany.MyApp.1.0.0.0.zip" in run.stdout


def test_the_articles_docker_run_variables_give_randomquotes_js_1_0_0_0_zip(clone):
    run = run_pipe_natively(ARTICLE, clone)
    assert run.returncode == 0, run.output
    with zipfile.ZipFile(clone / "out" / "randomquotes-js.1.0.0.0.zip") as zf:
        assert sorted(zf.namelist()) == [".gitignore", "package.json", "public/index.html", "src/app.js"]


def test_the_articles_pipeline_step_with_extra_args_as_a_bitbucket_array(clone):
    env = {**ARTICLE, "ID": "randomquotes-js", "FORMAT": "Nuget", "VERSION": "1.0.0.42", "EXTRA_ARGS_COUNT": "3",
           "EXTRA_ARGS_0": "--description", "EXTRA_ARGS_1": "text containing spaces", "EXTRA_ARGS_2": "--verbose"}
    run = run_pipe_natively(env, clone)
    assert run.returncode == 0, run.output
    assert "Added file: src/app.js" in run.output
    with zipfile.ZipFile(clone / "out" / "randomquotes-js.1.0.0.42.nupkg") as zf:
        nuspec = zf.read("randomquotes-js.nuspec").decode("utf-8-sig")
    assert "<description>text containing spaces</description>" in nuspec
    assert "<version>1.0.0.42</version>" in nuspec


def test_success_prints_path_size_sha256_and_file_count_and_shares_them(clone):
    storage = clone / ".bitbucket" / "pipelines" / "generated" / "pipeline" / "pipes"
    run = run_pipe_natively({**ARTICLE, "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(storage)}, clone)
    assert run.returncode == 0, run.output
    package = clone / "out" / "randomquotes-js.1.0.0.0.zip"
    sha256 = subprocess.run(["sha256sum", str(package)], capture_output=True, text=True).stdout.split()[0]
    assert f"SHA-256: {sha256}" in run.output
    assert "Files: 4," in run.output
    assert f"size: {package.stat().st_size:,} bytes" in run.output
    shared = subprocess.run(["bash", "-c", f"source {storage}/octopus-pack/package.env && "
                             "echo $OCTOPUS_PACK_FILE $OCTOPUS_PACK_SHA256 $OCTOPUS_PACK_FILE_COUNT"],
                            capture_output=True, text=True).stdout.split()
    assert shared == [str(package), sha256, "4"]
    again = run_pipe_natively({**ARTICLE, "VERSION": "1.0.0.1", "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(storage)},
                              clone)
    with zipfile.ZipFile(clone / "out" / "randomquotes-js.1.0.0.1.zip") as zf:
        assert not [name for name in zf.namelist() if name.startswith((".bitbucket", "out/"))], again.output


def test_debug_adds_resolved_options_and_selected_files_but_no_library_noise(clone):
    run = run_pipe_natively({**ARTICLE, "DEBUG": "true"}, clone)
    assert run.returncode == 0, run.output
    assert "DEBUG: Resolved options: PackRequest(package_id='randomquotes-js'" in run.output
    assert "DEBUG: Selected 4 files" in run.output
    assert "urllib3" not in run.output and "Starting new HTTP" not in run.output


def test_reproducible_packages_from_two_fresh_clones_are_identical(tmp_path):
    digests = []
    for attempt in range(2):
        clone = tmp_path / f"clone{attempt}"
        (clone / "src").mkdir(parents=True)
        (clone / "src" / "app.js").write_text("console.log('same')")
        run = run_pipe_natively({**ARTICLE, "SOURCE_PATH": "src", "SOURCE_DATE_EPOCH": "1700000000"}, clone)
        assert run.returncode == 0, run.output
        digests.append((clone / "out" / "randomquotes-js.1.0.0.0.zip").read_bytes())
    assert digests[0] == digests[1]


def test_an_existing_package_is_an_error_until_overwrite_is_set(clone):
    assert run_pipe_natively(ARTICLE, clone).returncode == 0
    run = run_pipe_natively(ARTICLE, clone)
    assert run.returncode == 1
    assert "randomquotes-js.1.0.0.0.zip already exists: set OVERWRITE: 'true' to replace it" in run.stdout
    assert run_pipe_natively({**ARTICLE, "OVERWRITE": "true"}, clone).returncode == 0
    legacy = {**ARTICLE, "EXTRA_ARGS_COUNT": "1", "EXTRA_ARGS_0": "--overwrite"}
    assert run_pipe_natively(legacy, clone).returncode == 0
