"""The built image packs and pushes to the fake Octopus server on 127.0.0.1, as a Bitbucket step would."""

from pathlib import Path

import pytest

from bitbucket_clone import bitbucket_env, make_clone

pytestmark = pytest.mark.container


@pytest.fixture
def clone(container_workdir: Path) -> Path:
    return make_clone(container_workdir)


@pytest.mark.parametrize("package_format", ["zip", "nupkg"])
def test_the_container_pushes_the_exact_package_and_build_information(run_pipe_container, clone, octopus,
                                                                      package_format):
    run = run_pipe_container(bitbucket_env(clone, octopus, FORMAT=package_format), clone)
    assert run.returncode == 0, run.output
    package = clone / "out" / f"RandomQuotes.1.0.0.7.{package_format}"
    assert octopus.package_bytes("RandomQuotes", "1.0.0.7") == package.read_bytes()
    info = octopus.build_information_for("RandomQuotes", "1.0.0.7")
    assert [commit["Comment"].strip() for commit in info["Commits"]] == ["PET-1 second commit"]
    assert octopus.requests_of("upload")[0].header("user-agent").endswith(" BitBucket")


def test_the_container_retries_after_a_503_and_never_prints_the_key(run_pipe_container, clone, octopus):
    octopus.fail_next("upload", status=503, times=1)
    run = run_pipe_container(bitbucket_env(clone, octopus, DEBUG="true"), clone)
    assert run.returncode == 0, run.output
    assert "Trying again" in run.output
    assert octopus.api_key not in run.output
    assert octopus.package_bytes("RandomQuotes", "1.0.0.7") == (clone / "out" / "RandomQuotes.1.0.0.7.zip").read_bytes()
