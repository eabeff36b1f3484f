"""Pack and push in one `python3 pipe/pipe.py` run, against the fake Octopus server on 127.0.0.1."""

import os
from pathlib import Path

import pytest

from bitbucket_clone import bitbucket_env, make_clone
from fixtures_pipe import run_pipe_natively


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    return make_clone(tmp_path)


@pytest.mark.parametrize("package_format", ["zip", "nupkg"])
def test_one_step_packs_pushes_and_sends_build_information(clone, octopus, package_format):
    run = run_pipe_natively(bitbucket_env(clone, octopus, FORMAT=package_format), clone)
    assert run.returncode == 0, run.output
    package = clone / "out" / f"RandomQuotes.1.0.0.7.{package_format}"
    assert octopus.package_bytes("RandomQuotes", "1.0.0.7") == package.read_bytes()
    upload = octopus.requests_of("upload")[0]
    assert upload.upload.field_name == "file" and upload.upload.file_name == package.name
    info = octopus.build_information_for("RandomQuotes", "1.0.0.7")
    assert info["BuildEnvironment"] == "BitBucket"
    assert info["BuildNumber"] == "7"
    assert info["Branch"] == "main"
    assert info["VcsType"] == "Git"
    assert info["VcsRoot"] == "http://bitbucket.org/octo/randomquotes"
    assert [commit["Comment"].strip() for commit in info["Commits"]] == ["PET-1 second commit"]


def test_a_50_mb_package_with_one_changed_file_is_pushed_as_a_delta_under_5_percent(clone, octopus):
    """Issue 6's scenario: push 1.0.0, change one file, pack 1.0.1 reproducibly, push."""
    for index in range(50):
        (clone / "src" / f"asset{index:02}.bin").write_bytes(os.urandom(1 << 20))
    env = bitbucket_env(clone, octopus, VERSION="1.0.0", SOURCE_DATE_EPOCH="1700000000",
                        PUSH_BUILD_INFORMATION="false")
    assert run_pipe_natively(env, clone).returncode == 0
    (clone / "src" / "asset17.bin").write_bytes(os.urandom(1 << 20))
    run = run_pipe_natively({**env, "VERSION": "1.0.1"}, clone)
    assert run.returncode == 0, run.output
    package = clone / "out" / "RandomQuotes.1.0.1.zip"
    assert package.stat().st_size > 50_000_000
    assert octopus.package_bytes("RandomQuotes", "1.0.1") == package.read_bytes()
    assert "delta instead of" in run.output
    delta = octopus.requests_of("delta-upload")[0]
    assert delta.body_size < 0.05 * package.stat().st_size


def test_debug_output_never_contains_the_api_key(clone, octopus):
    run = run_pipe_natively(bitbucket_env(clone, octopus, DEBUG="true"), clone)
    assert run.returncode == 0, run.output
    assert "DEBUG:" in run.output
    assert octopus.api_key not in run.output


@pytest.mark.parametrize(("changes", "message"), [
    ({"OCTOPUS_APIKEY": "API-WRONGKEY0"}, "OCTOPUS_APIKEY"),
    ({"OCTOPUS_SPACE": "Nowhere"}, "Nowhere"),
    ({"OCTOPUS_APIKEY": ""}, "no credential is: set OCTOPUS_APIKEY"),
])
def test_octopus_mistakes_fail_with_one_line_and_exit_code_1(clone, octopus, changes, message):
    run = run_pipe_natively(bitbucket_env(clone, octopus, **changes), clone)
    assert run.returncode == 1, run.output
    failure = [line for line in run.stdout.splitlines() if "✖" in line]
    assert len(failure) == 1 and message in failure[0], run.output
    assert "Traceback" not in run.output
    assert octopus.api_key not in run.output


def test_a_rerun_succeeds_without_a_second_upload(clone, octopus):
    """Bitbucket's Rerun of a step: same VERSION, same bytes, default FailIfExists."""
    env = bitbucket_env(clone, octopus, SOURCE_DATE_EPOCH="1700000000")
    assert run_pipe_natively(env, clone).returncode == 0
    again = run_pipe_natively({**env, "OVERWRITE": "true"}, clone)
    assert again.returncode == 0, again.output
    assert "already holds identical content for RandomQuotes.1.0.0.7.zip" in again.output
    assert "already holds identical build information" in again.output
    assert len(octopus.requests_of("upload")) == 1 and len(octopus.requests_of("build-information")) == 1
    assert octopus.stored_copies("RandomQuotes", "1.0.0.7") == [octopus.package("RandomQuotes", "1.0.0.7").sha1]


def test_other_content_points_at_overwrite_mode_and_ignore_if_exists_succeeds(clone, octopus):
    env = bitbucket_env(clone, octopus, PUSH_BUILD_INFORMATION="false")
    assert run_pipe_natively(env, clone).returncode == 0
    (clone / "src" / "app.js").write_text("console.log('v3')")
    again = run_pipe_natively({**env, "OVERWRITE": "true"}, clone)
    assert again.returncode == 1
    (failure,) = [line for line in again.stdout.splitlines() if "✖" in line]
    assert "with different content" in failure and "OVERWRITE_MODE" in failure
    ignored = run_pipe_natively({**env, "OVERWRITE": "true", "OVERWRITE_MODE": "IgnoreIfExists"}, clone)
    assert ignored.returncode == 0, ignored.output
    assert len(octopus.requests_of("upload")) == 1
