"""Packing a real git checkout, as Bitbucket clones one: no .git or earlier packages inside, and a Rerun of the
same commit from a fresh clone gives the same bytes by default (so FailIfExists finds identical content)."""

import calendar
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from fixtures_pipe import run_pipe_natively

FIRST_COMMIT_TIME = "2026-11-30T09:15:00+0100"
LAST_COMMIT_TIME = "2026-12-06T12:00:00+0100"  # 11:00:00 UTC
LAST_COMMIT_EPOCH = calendar.timegm((2026, 12, 6, 11, 0, 0))


def git(folder: Path, *arguments: str, when: str = LAST_COMMIT_TIME, umask: int | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when, "GIT_CONFIG_GLOBAL": "/dev/null"}
    done = subprocess.run(["git", "-C", str(folder), "-c", "user.name=Dev", "-c", "user.email=dev@example.com",
                           *arguments], check=True, capture_output=True, text=True, env=env,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
    return done.stdout.strip()


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A repository with history: three commits, tracked .gitignore and .gitattributes, an executable script."""
    repo = tmp_path / "origin"
    (repo / "src").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    files = {"src/app.js": "console.log('v1')\n", ".gitignore": "out/\n", ".gitattributes": "* text=auto\n",
             "deploy.sh": "#!/bin/sh\necho deploy\n", "public/index.html": "<html/>\n"}
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    (repo / "deploy.sh").chmod(0o755)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "First commit", when=FIRST_COMMIT_TIME)
    (repo / "src" / "app.js").write_text("console.log('v2')\n")
    git(repo, "commit", "-q", "-am", "Second commit", when=FIRST_COMMIT_TIME)
    (repo / "src" / "util.js").write_text("export {}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "PET-1 third commit")
    return repo


def fresh_clone(origin: Path, folder: Path, *, umask: int, file_time: float) -> Path:
    """A clone as a Bitbucket Rerun makes it: new file times, possibly another umask."""
    git(origin.parent, "clone", "-q", str(origin), str(folder), umask=umask)
    for path in folder.rglob("*"):
        if ".git" not in path.relative_to(folder).parts:
            os.utime(path, (file_time, file_time), follow_symlinks=False)
    return folder


def bitbucket_env(clone: Path, **changes: str) -> dict[str, str]:
    return {"ID": "Webshop", "FORMAT": "zip", "VERSION": "1.0.0.18", "SOURCE_PATH": ".", "OUTPUT_PATH": "./out",
            "BITBUCKET_BUILD_NUMBER": "18", "BITBUCKET_COMMIT": git(clone, "rev-parse", "HEAD"),
            "BITBUCKET_BRANCH": "main", "BITBUCKET_CLONE_DIR": str(clone), **changes}


def entries(package: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(package) as archive:
        assert archive.testzip() is None
        return {info.filename: info for info in archive.infolist()}


def test_packing_dot_leaves_out_git_and_an_earlier_package_of_another_id(origin, tmp_path):
    clone = fresh_clone(origin, tmp_path / "clone", umask=0o022, file_time=1_800_000_000)
    web = run_pipe_natively(bitbucket_env(clone, ID="Web", DEBUG="true"), clone)
    assert web.returncode == 0, web.output
    api = run_pipe_natively(bitbucket_env(clone, ID="Api", DEBUG="true"), clone)
    assert api.returncode == 0, api.output
    expected = [".gitattributes", ".gitignore", "deploy.sh", "public/index.html", "src/app.js", "src/util.js"]
    assert sorted(entries(clone / "out" / "Web.1.0.0.18.zip")) == expected
    assert sorted(entries(clone / "out" / "Api.1.0.0.18.zip")) == expected
    for run in (web, api):
        assert "Not packing '.git/': version-control metadata (INCLUDE '.git/**' packs it)." in run.output
        assert run.output.count("Not packing '.git/'") == 1
    assert f"Not packing '{clone}/out/Web.1.0.0.18.zip': it is a package this pipe could have written" in api.output


def test_an_include_naming_git_packs_it(origin, tmp_path):
    clone = fresh_clone(origin, tmp_path / "clone", umask=0o022, file_time=1_800_000_000)
    run = run_pipe_natively(bitbucket_env(clone, INCLUDE_COUNT="2", INCLUDE_0="**", INCLUDE_1=".git/**"), clone)
    assert run.returncode == 0, run.output
    packed = entries(clone / "out" / "Webshop.1.0.0.18.zip")
    assert ".git/HEAD" in packed and "src/app.js" in packed
    head = (clone / ".git" / "HEAD").read_bytes()
    with zipfile.ZipFile(clone / "out" / "Webshop.1.0.0.18.zip") as archive:
        assert archive.read(".git/HEAD") == head


@pytest.mark.parametrize("package_format", ["zip", "nupkg"])
def test_two_fresh_clones_of_one_commit_give_identical_bytes_by_default(origin, tmp_path, package_format):
    first = fresh_clone(origin, tmp_path / "build-18", umask=0o022, file_time=1_800_000_000)
    second = fresh_clone(origin, tmp_path / "build-18-rerun", umask=0o077, file_time=1_900_000_000)
    assert (first / "src" / "app.js").stat().st_mode != (second / "src" / "app.js").stat().st_mode
    packages = []
    for clone in (first, second):
        run = run_pipe_natively(bitbucket_env(clone, FORMAT=package_format), clone)
        assert run.returncode == 0, run.output
        commit = git(clone, "rev-parse", "HEAD")
        assert (f"Entry times: 2026-12-06 11:00:00 UTC, the time of commit {commit[:12]} (set SOURCE_DATE_EPOCH: "
                "'false' to keep the files' own times).") in run.output
        packages.append(clone / "out" / f"Webshop.1.0.0.18.{package_format}")
    assert packages[0].read_bytes() == packages[1].read_bytes()
    packed = entries(packages[0])
    assert {info.date_time for info in packed.values()} == {(2026, 12, 6, 11, 0, 0)}
    assert packed["deploy.sh"].external_attr >> 16 & 0o777 == 0o755
    assert packed["src/app.js"].external_attr >> 16 & 0o777 == 0o644


def test_the_commit_bitbucket_names_decides_the_time_not_a_later_head(origin, tmp_path):
    clone = fresh_clone(origin, tmp_path / "clone", umask=0o022, file_time=1_800_000_000)
    older = git(clone, "rev-parse", "HEAD~1")
    run = run_pipe_natively(bitbucket_env(clone, BITBUCKET_COMMIT=older), clone)
    assert run.returncode == 0, run.output
    assert f"Entry times: 2026-11-30 08:15:00 UTC, the time of commit {older[:12]}" in run.output
    assert {info.date_time for info in entries(clone / "out" / "Webshop.1.0.0.18.zip").values()} == {
        (2026, 11, 30, 8, 15, 0)}


def test_head_of_the_repository_holding_source_path_serves_outside_bitbucket(origin, tmp_path):
    clone = fresh_clone(origin, tmp_path / "clone", umask=0o022, file_time=1_800_000_000)
    env = {"ID": "Webshop", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": "../src", "OUTPUT_PATH": "../out"}
    run = run_pipe_natively(env, clone / "public")  # the working directory is not the repository's root
    assert run.returncode == 0, run.output
    assert "Entry times: 2026-12-06 11:00:00 UTC, the time of commit" in run.output


@pytest.mark.parametrize("word", ["false", "No", " off "])
def test_source_date_epoch_false_keeps_the_files_own_times_and_modes(origin, tmp_path, word):
    clone = fresh_clone(origin, tmp_path / "clone", umask=0o077, file_time=1_800_000_000)
    run = run_pipe_natively(bitbucket_env(clone, SOURCE_DATE_EPOCH=word, DEBUG="true"), clone)
    assert run.returncode == 0, run.output
    assert "Entry times: the files' own, as SOURCE_DATE_EPOCH is" in run.output
    packed = entries(clone / "out" / "Webshop.1.0.0.18.zip")
    assert packed["src/app.js"].external_attr >> 16 & 0o777 == 0o600
    assert packed["src/app.js"].date_time[:3] == (2027, 1, 15)  # 1_800_000_000 in local time (no TZ: UTC)


def test_a_timestamp_still_wins_over_the_commit(origin, tmp_path):
    clone = fresh_clone(origin, tmp_path / "clone", umask=0o022, file_time=1_800_000_000)
    run = run_pipe_natively(bitbucket_env(clone, SOURCE_DATE_EPOCH="1700000000"), clone)
    assert run.returncode == 0, run.output
    assert "Entry times: 2023-11-14 22:13:20 UTC, from SOURCE_DATE_EPOCH." in run.output
    assert {info.date_time for info in entries(clone / "out" / "Webshop.1.0.0.18.zip").values()} == {
        (2023, 11, 14, 22, 13, 20)}


@pytest.mark.parametrize("setup", ["no repository", "no commits"])
def test_outside_a_repository_with_commits_the_files_own_times_are_kept_and_debug_says_why(tmp_path, setup):
    (tmp_path / "app.js").write_text("x")
    os.utime(tmp_path / "app.js", (1_800_000_000, 1_800_000_000))
    if setup == "no commits":
        git(tmp_path, "init", "-q")
    run = run_pipe_natively({"ID": "Webshop", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": ".",
                             "OUTPUT_PATH": "out", "DEBUG": "true"}, tmp_path)
    assert run.returncode == 0, run.output
    reason = "no git repository contains SOURCE_PATH" if setup == "no repository" else "has no commits"
    assert "Entry times: the files' own, as " in run.output and reason in run.output
    assert "Entry times: 20" not in run.output
    assert entries(tmp_path / "out" / "Webshop.1.0.0.zip")["app.js"].date_time[:3] == (2027, 1, 15)


def test_a_rerun_from_a_fresh_clone_finds_identical_content_in_octopus_and_uploads_nothing(origin, tmp_path,
                                                                                          octopus):
    runs = []
    for folder, umask, file_time in (("build-18", 0o022, 1_800_000_000), ("rerun-18", 0o077, 1_900_000_000)):
        clone = fresh_clone(origin, tmp_path / folder, umask=umask, file_time=file_time)
        env = bitbucket_env(clone, OCTOPUS_SERVER=octopus.url, OCTOPUS_APIKEY=octopus.api_key)
        runs.append(run_pipe_natively(env, clone))
        assert runs[-1].returncode == 0, runs[-1].output
    assert "Octopus already holds identical content for Webshop.1.0.0.18.zip" in runs[1].output
    assert "nothing to upload" in runs[1].output
    first, rerun = ([re.sub(r"\x1b\[[0-9;]*m", "", line) for line in run.output.splitlines() if "✔" in line]
                    for run in runs)
    assert first == [f"✔ Packaging successful. Created package ./out/Webshop.1.0.0.18.zip (6 files, 695 bytes) and "
                     f"pushed it to {octopus.url}."]
    assert rerun == [f"✔ Packaging successful. Created package ./out/Webshop.1.0.0.18.zip (6 files, 695 bytes); "
                     f"{octopus.url} already held identical content, so nothing was uploaded."]
    assert len(octopus.requests_of("upload")) == 1
    assert not octopus.requests_of("delta-upload")
    stored = octopus.package_bytes("Webshop", "1.0.0.18")
    assert stored == (tmp_path / "rerun-18" / "out" / "Webshop.1.0.0.18.zip").read_bytes()


def test_a_bitbucket_commit_the_clone_lacks_falls_back_to_head(origin, tmp_path):
    clone = fresh_clone(origin, tmp_path / "clone", umask=0o022, file_time=1_800_000_000)
    run = run_pipe_natively(bitbucket_env(clone, BITBUCKET_COMMIT="0" * 40), clone)
    assert run.returncode == 0, run.output
    assert f"the time of commit {git(clone, 'rev-parse', 'HEAD')[:12]}" in run.output


def test_a_linked_worktree_reads_its_own_head_through_the_git_file(origin, tmp_path):
    older = git(origin, "rev-parse", "HEAD~1")
    git(origin, "worktree", "add", "-q", "--detach", str(tmp_path / "linked"), older)
    run = run_pipe_natively({"ID": "Webshop", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": ".",
                             "OUTPUT_PATH": "out", "DEBUG": "true"}, tmp_path / "linked")
    assert run.returncode == 0, run.output
    assert f"Entry times: 2026-11-30 08:15:00 UTC, the time of commit {older[:12]}" in run.output
    assert "Not packing '.git': version-control metadata (INCLUDE '.git' packs it)." in run.output
    assert ".git" not in entries(tmp_path / "linked" / "out" / "Webshop.1.0.0.zip")


@pytest.mark.parametrize("value", ["true", "now", "0"])
def test_source_date_epoch_is_a_timestamp_or_false(origin, tmp_path, value):
    run = run_pipe_natively(bitbucket_env(origin, SOURCE_DATE_EPOCH=value), origin)
    assert run.returncode == 1
    assert run.output.strip().endswith(f"✖ SOURCE_DATE_EPOCH is '{value}': use a Unix timestamp in seconds from "
                                       "315532800 (1980) to 4354819199 (2107), for example the commit time that git "
                                       "log -1 --format=%ct prints, or 'false' to keep the files' own times.\x1b[0m")
    assert not (origin / "out").exists()
