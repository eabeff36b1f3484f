"""Build information pushed to the fake Octopus server from real git clones, as a Bitbucket build would."""

import dataclasses
import hashlib
import logging
import subprocess
from pathlib import Path

import pytest

from fake_octopus import FakeOctopus
from octopus_pack.config.bitbucket import bitbucket_build_from
from octopus_pack.errors import PipeError
from octopus_pack.octopus import OctopusSettings, OverwriteMode, push_to_octopus
from octopus_pack.octopus.build_information import build_information_payload
from octopus_pack.octopus.git_history import Commit
from octopus_pack.octopus.settings import ApiKey, BuildContext
from octopus_pack.package_result import PackageResult
from test_git_history import GitRepo

ORIGIN = "http://bitbucket.org/octopussamples/petclinic"


def settings_for(octopus: FakeOctopus, **overrides) -> OctopusSettings:
    """Settings for the fake that push only the build information (it does not need the package on the server)."""
    base = OctopusSettings(server=octopus.url, credential=ApiKey(octopus.api_key), backoff_factor=0, retries=1,
                           push_package=False)
    return dataclasses.replace(base, **overrides)


def package(version: str) -> PackageResult:
    return PackageResult(Path(f"/nowhere/petclinic.{version}.zip"), "petclinic", version, "zip", 1, "", 1, "")


def bitbucket_env(clone: Path, commit: str | None, build: int, **extra: str) -> BuildContext:
    env = {
        "BITBUCKET_BUILD_NUMBER": str(build), "BITBUCKET_BRANCH": "main", "BITBUCKET_CLONE_DIR": str(clone),
        "BITBUCKET_REPO_FULL_NAME": "octopussamples/petclinic", "BITBUCKET_GIT_HTTP_ORIGIN": ORIGIN,
    }  # fmt: skip
    if commit:
        env["BITBUCKET_COMMIT"] = commit
    return bitbucket_build_from({name: value for name, value in (env | extra).items() if value is not None})


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "clone")


@pytest.fixture
def info_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def test_the_first_build_carries_its_commit_and_the_build_facts(octopus, repo):
    repo.commit("initial import")
    head = repo.commit("PET-1 - test runbook with 0.15.0 of pipe")
    push_to_octopus(settings_for(octopus), package("1.0.288"), bitbucket_env(repo.path, head, 288))

    record = octopus.build_information_for("petclinic", "1.0.288")
    assert record["BuildEnvironment"] == "BitBucket"
    assert record["BuildNumber"] == "288"
    assert record["BuildUrl"] == "https://bitbucket.org/octopussamples/petclinic/addon/pipelines/home#!/results/288"
    assert record["Branch"] == "main"
    assert record["VcsType"] == "Git"
    assert record["VcsRoot"] == ORIGIN
    assert record["VcsCommitNumber"] == head
    assert record["VcsCommitUrl"] == f"{ORIGIN}/commits/{head}"
    assert [(c["Id"], c["Comment"]) for c in record["Commits"]] == [(head, "PET-1 - test runbook with 0.15.0 of pipe")]
    assert octopus.packages() == []


def test_the_request_sends_the_mode_in_query_and_body(octopus, repo):
    head = repo.commit("one")
    settings = settings_for(octopus, overwrite_mode=OverwriteMode.IGNORE_IF_EXISTS)
    push_to_octopus(settings, package("1.0.1"), bitbucket_env(repo.path, head, 1))
    (request,) = octopus.requests_of("build-information", "POST")
    assert request.query == {"overwriteMode": "IgnoreIfExists"}
    assert request.json["OverwriteMode"] == "IgnoreIfExists"
    assert request.json["PackageId"] == "petclinic" and request.json["Version"] == "1.0.1"
    assert set(request.json["OctopusBuildInformation"]["Commits"][0]) == {"Id", "Comment"}
    assert request.header("content-type") == "application/json; charset=utf-8"


def test_later_builds_carry_the_commits_since_the_previous_build(octopus, repo, info_logs):
    first = repo.commit("one")
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, first, 1))
    new = [repo.commit(f"PET-{n} change") for n in (2, 3, 4)]
    push_to_octopus(settings_for(octopus), package("1.0.2"), bitbucket_env(repo.path, new[-1], 2))

    record = octopus.build_information_for("petclinic", "1.0.2")
    assert [c["Id"] for c in record["Commits"]] == new[::-1]
    assert [c["Comment"] for c in record["Commits"]] == ["PET-4 change", "PET-3 change", "PET-2 change"]
    assert f"3 commits since version 1.0.1 (commit {first[:12]})" in info_logs.text
    assert "Pushed build information for petclinic 1.0.2: 3 commits, branch main, build 2." in info_logs.text


def test_the_previous_build_is_the_most_recent_other_version(octopus, repo):
    commits = [repo.commit(f"c{n}") for n in range(5)]
    for build, (version, commit) in enumerate([("1.0.1", commits[0]), ("1.0.2", commits[2])], start=1):
        push_to_octopus(settings_for(octopus), package(version), bitbucket_env(repo.path, commit, build))
    settings = settings_for(octopus, overwrite_mode=OverwriteMode.OVERWRITE_EXISTING)
    push_to_octopus(settings, package("1.0.3"), bitbucket_env(repo.path, commits[4], 3))
    push_to_octopus(settings, package("1.0.3"), bitbucket_env(repo.path, commits[4], 4))  # a re-run
    assert [c["Id"] for c in octopus.build_information_for("petclinic", "1.0.3")["Commits"]] == [
        commits[4], commits[3],
    ]  # fmt: skip


def test_no_new_commits_when_the_same_commit_is_built_again(octopus, repo, info_logs):
    head = repo.commit("one")
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, head, 1))
    push_to_octopus(settings_for(octopus), package("1.0.2"), bitbucket_env(repo.path, head, 2))
    assert octopus.build_information_for("petclinic", "1.0.2")["Commits"] == []
    assert "No new commits since version 1.0.1" in info_logs.text


def test_the_commit_limit_keeps_the_newest_and_says_so(octopus, repo, info_logs):
    first = repo.commit("one")
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, first, 1))
    new = [repo.commit(f"change {n}") for n in range(5)]
    push_to_octopus(settings_for(octopus, commit_limit=2), package("1.0.2"), bitbucket_env(repo.path, new[-1], 2))
    assert [c["Id"] for c in octopus.build_information_for("petclinic", "1.0.2")["Commits"]] == new[:2:-1]
    assert "BUILD_INFORMATION_COMMIT_LIMIT caps the list at the newest 2 commits" in info_logs.text


def test_a_shallow_clone_that_misses_the_previous_commit(octopus, repo, tmp_path, info_logs):
    first = repo.commit("one")
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, first, 1))
    new = [repo.commit(f"change {n}") for n in range(4)]
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{repo.path}", str(clone)], check=True)
    push_to_octopus(settings_for(octopus), package("1.0.2"), bitbucket_env(clone, new[-1], 2))
    record = octopus.build_information_for("petclinic", "1.0.2")
    assert [(c["Id"], c["Comment"]) for c in record["Commits"]] == [(new[-1], "change 3")]
    assert "not in this clone (it is a shallow clone; set 'clone: depth: full'" in info_logs.text


def test_without_a_clone_the_environment_is_enough(octopus, tmp_path, info_logs):
    commit = "314cf2c3ee916c92a384c2796a6abe332d678e4f"
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(tmp_path, commit, 7))
    record = octopus.build_information_for("petclinic", "1.0.1")
    assert record["VcsCommitNumber"] == commit
    assert [(c["Id"], c["Comment"]) for c in record["Commits"]] == [(commit, "")]
    assert "no git repository at" in info_logs.text
    assert any(r.levelno == logging.WARNING for r in info_logs.records)


def test_outside_bitbucket_the_clone_is_the_working_directory(octopus, repo, monkeypatch):
    head = repo.commit("local run")
    monkeypatch.chdir(repo.path)
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_build_from({}))
    record = octopus.build_information_for("petclinic", "1.0.1")
    assert record["VcsCommitNumber"] == head
    assert record["BuildNumber"] is None and record["BuildUrl"] is None


def test_tag_builds_report_the_tag_as_branch(octopus, repo):
    head = repo.commit("release")
    env = bitbucket_env(repo.path, head, 9, BITBUCKET_TAG="v1.0.0", BITBUCKET_BRANCH=None)
    push_to_octopus(settings_for(octopus), package("1.0.0"), env)
    assert octopus.build_information_for("petclinic", "1.0.0")["Branch"] == "v1.0.0"


def test_build_url_from_the_origin_when_the_full_name_is_missing(tmp_path):
    env = {"BITBUCKET_BUILD_NUMBER": "5", "BITBUCKET_GIT_HTTP_ORIGIN": "https://bitbucket.org/ws/repo.git/"}
    build = bitbucket_build_from(env, working_dir=tmp_path)
    assert build.build_url == "https://bitbucket.org/ws/repo/addon/pipelines/home#!/results/5"
    assert build.clone_dir == tmp_path
    assert bitbucket_build_from({"BITBUCKET_REPO_FULL_NAME": "ws/repo"}).vcs_root == "https://bitbucket.org/ws/repo"


def test_the_payload_matches_the_octopus_docs_sample():
    build = bitbucket_build_from({
        "BITBUCKET_BUILD_NUMBER": "288", "BITBUCKET_BRANCH": "main", "BITBUCKET_GIT_HTTP_ORIGIN": ORIGIN,
        "BITBUCKET_REPO_FULL_NAME": "octopussamples/petclinic", "BITBUCKET_COMMIT": "314cf2c",
    })  # fmt: skip
    payload = build_information_payload(package("1.0.288"), build, [Commit("314cf2c", "PET-1")],
                                        OverwriteMode.FAIL_IF_EXISTS)
    assert payload == {
        "PackageId": "petclinic", "Version": "1.0.288", "OverwriteMode": "FailIfExists",
        "OctopusBuildInformation": {
            "BuildEnvironment": "BitBucket", "BuildNumber": "288",
            "BuildUrl": "https://bitbucket.org/octopussamples/petclinic/addon/pipelines/home#!/results/288",
            "Branch": "main", "VcsType": "Git", "VcsRoot": ORIGIN, "VcsCommitNumber": "314cf2c",
            "Commits": [{"Id": "314cf2c", "Comment": "PET-1"}],
        },
    }  # fmt: skip


# --- overwrite modes and refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 409])
def test_existing_build_information_under_fail_if_exists(octopus, repo, status):
    """Stored by another run between our look-up and our POST: the server's refusal gets the same advice."""
    octopus.behaviour.duplicate_build_information_status = status
    head = repo.commit("one")
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, head, 1))
    octopus.fail_next("build-information-read", status=404, times=2)
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, head, 2))
    message = str(error.value)
    assert message.startswith("build information for petclinic 1.0.1 is already in Octopus (space 'Default'")
    assert "OVERWRITE_MODE: 'IgnoreIfExists'" in message
    assert message.endswith("Metadata for the specified Package ID and version already exists.")


def test_other_build_information_on_the_server_is_refused_before_sending(octopus, repo):
    head = repo.commit("one")
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, head, 1))
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, head, 2))
    assert str(error.value).startswith(
        "build information for petclinic 1.0.1 is already in Octopus (space 'Default' (Spaces-1)) from another "
        f"build (build 1, commit {head[:12]}) and OVERWRITE_MODE is FailIfExists, so nothing was sent: "
    )
    assert len(octopus.requests_of("build-information")) == 1


@pytest.mark.parametrize("mode", list(OverwriteMode))
def test_a_rerun_of_the_same_build_sends_nothing_and_succeeds(octopus, repo, mode, caplog):
    caplog.set_level(logging.INFO)
    head = repo.commit("one")
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, head, 1))
    push_to_octopus(settings_for(octopus, overwrite_mode=mode), package("1.0.1"), bitbucket_env(repo.path, head, 1))
    assert len(octopus.requests_of("build-information")) == 1
    assert "Octopus already holds identical build information for petclinic 1.0.1" in caplog.text


def test_ignore_if_exists_keeps_the_record(octopus, repo):
    head = repo.commit("one")
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, head, 1))
    settings = settings_for(octopus, overwrite_mode=OverwriteMode.IGNORE_IF_EXISTS)
    push_to_octopus(settings, package("1.0.1"), bitbucket_env(repo.path, head, 2))
    assert octopus.build_information_for("petclinic", "1.0.1")["BuildNumber"] == "1"


def test_overwrite_existing_replaces_the_record(octopus, repo):
    head = repo.commit("one")
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, head, 1))
    settings = settings_for(octopus, overwrite_mode=OverwriteMode.OVERWRITE_EXISTING)
    push_to_octopus(settings, package("1.0.1"), bitbucket_env(repo.path, head, 2))
    assert octopus.build_information_for("petclinic", "1.0.1")["BuildNumber"] == "2"


@pytest.mark.parametrize(
    ("mode", "missing"),
    [(OverwriteMode.FAIL_IF_EXISTS, "BuildInformationPush"), (OverwriteMode.OVERWRITE_EXISTING,
                                                              "BuildInformationAdminister")],
)
def test_missing_build_information_permissions_are_named(octopus, repo, mode, missing):
    head = repo.commit("one")
    settings = settings_for(octopus, overwrite_mode=mode, credential=ApiKey(octopus.add_api_key(without=(missing,))))
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings, package("1.0.1"), bitbucket_env(repo.path, head, 1))
    assert f"may not push build information for petclinic 1.0.1: it lacks the {missing} permission" in str(
        error.value
    )


def test_unreadable_earlier_build_information_falls_back_to_the_head_commit(octopus, repo, info_logs):
    first = repo.commit("one")
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, first, 1))
    head = repo.commit("two")
    octopus.fail_next("build-information-read", status=403)
    push_to_octopus(settings_for(octopus), package("1.0.2"), bitbucket_env(repo.path, head, 2))
    assert [c["Id"] for c in octopus.build_information_for("petclinic", "1.0.2")["Commits"]] == [head]
    assert "Could not read earlier build information" in info_logs.text


def test_a_dropped_build_information_push_is_checked_before_retrying(octopus, repo, info_logs):
    head = repo.commit("one")
    octopus.drop_next("build-information")
    push_to_octopus(settings_for(octopus), package("1.0.1"), bitbucket_env(repo.path, head, 1))
    assert len(octopus.requests_of("build-information", "POST")) == 1
    assert "but the server already has it" in info_logs.text


def test_package_and_build_information_together(octopus, repo, tmp_path):
    head = repo.commit("one")
    path = tmp_path / "petclinic.1.0.1.zip"
    path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    result = PackageResult(path, "petclinic", "1.0.1", "zip", path.stat().st_size, "", 0,
                           hashlib.sha1(path.read_bytes()).hexdigest())
    push_to_octopus(settings_for(octopus, push_package=True), result, bitbucket_env(repo.path, head, 1))
    assert octopus.package_bytes("petclinic", "1.0.1") == path.read_bytes()
    assert octopus.build_information_for("petclinic", "1.0.1")["VcsCommitNumber"] == head
