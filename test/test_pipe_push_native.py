"""Pack and push in one `python3 pipe/pipe.py` run, against the fake Octopus server on 127.0.0.1."""

import os
import subprocess
from pathlib import Path

import pytest

from fixtures_pipe import run_pipe_natively


def make_clone(root: Path) -> Path:
    """A git clone like Bitbucket's, with two commits."""
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.js").write_text("console.log('v1')")
    git = ["git", "-C", str(root), "-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "First commit"], check=True)
    (root / "src" / "app.js").write_text("console.log('v2')")
    subprocess.run([*git, "commit", "-q", "-am", "PET-1 second commit"], check=True)
    return root


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    return make_clone(tmp_path)


def bitbucket_env(clone: Path, octopus, **changes: str) -> dict[str, str]:
    head = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"ID": "RandomQuotes", "FORMAT": "zip", "VERSION": "1.0.0.7", "SOURCE_PATH": "src", "OUTPUT_PATH": "out",
            "OCTOPUS_SERVER": octopus.url, "OCTOPUS_APIKEY": octopus.api_key, "BITBUCKET_BUILD_NUMBER": "7",
            "BITBUCKET_COMMIT": head, "BITBUCKET_BRANCH": "main", "BITBUCKET_CLONE_DIR": str(clone),
            "BITBUCKET_REPO_FULL_NAME": "octo/randomquotes", "BITBUCKET_GIT_HTTP_ORIGIN": "http://bitbucket.org/octo/randomquotes",
            **changes}


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
