"""Fixtures that build the pipe's Docker image once per session and run it the way Bitbucket does."""

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from fixtures_pipe import PipeRun

if TYPE_CHECKING:
    from docker import DockerClient

REPO_ROOT = Path(__file__).resolve().parents[1]
IMAGE_TAG = os.environ.get("OCTOPUS_PACK_TEST_IMAGE", "octopus-pack:test")  # one per worktree
# Built by ci-scripts/docker-engine.sh where no registry can supply the Dockerfile's default base.
LOCAL_BASE_IMAGE = "local/python-base:bookworm"
# Bitbucket's docker service only mounts folders inside the clone, so containers work in here (gitignored).
WORK_ROOT = REPO_ROOT / "test" / "out"

ContainerRunner = Callable[..., PipeRun]


def _unavailable(reason: str) -> NoReturn:
    """Skip on a developer's machine without Docker; in CI a missing engine must not pass silently."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the container tests must run; see ci-scripts/docker-engine.sh)")
    pytest.skip(f"{reason}; run `python3 dev.py test` or ci-scripts/docker-engine.sh to get one")


def _default_base_image() -> str:
    """The BASE_IMAGE default written in the Dockerfile."""
    for line in (REPO_ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ARG BASE_IMAGE="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("Dockerfile has no 'ARG BASE_IMAGE=' line")


def base_image_for(client: "DockerClient") -> str:
    """OCTOPUS_PACK_BASE_IMAGE if given, else the Dockerfile's default or the local Debian base if present."""
    chosen = os.environ.get("OCTOPUS_PACK_BASE_IMAGE", "").strip()
    if chosen:
        return chosen
    default = _default_base_image()
    for candidate in (default, LOCAL_BASE_IMAGE):
        try:
            client.images.get(candidate)
            return candidate
        except Exception:  # docker.errors.ImageNotFound, or an engine that cannot tell
            continue
    return default  # left for the engine to pull where a registry is reachable


@pytest.fixture(scope="session")
def docker_client() -> Iterator["DockerClient"]:
    """A Docker SDK client for the engine the environment points at (DOCKER_HOST or the local socket)."""
    if os.environ.get("OCTOPUS_PACK_NO_ENGINE"):  # dev.py tried and said why: an engine that answers may not work
        _unavailable(os.environ["OCTOPUS_PACK_NO_ENGINE"])
    try:
        import docker
    except ImportError:
        _unavailable("the docker Python SDK is not installed (test/requirements.txt)")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:  # docker.errors.DockerException and the connection errors beneath it
        _unavailable(f"no Docker engine reachable: {error}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def pipe_image(docker_client: "DockerClient") -> str:
    """Build the image from the repository's Dockerfile once per session; return its id."""
    import docker

    base = base_image_for(docker_client)
    try:
        image, _ = docker_client.images.build(
            path=str(REPO_ROOT),
            tag=IMAGE_TAG,
            buildargs={"BASE_IMAGE": base},
            network_mode="host",
            rm=True,
            forcerm=True,
        )
    except docker.errors.BuildError as error:
        log = "".join(chunk.get("stream", "") or chunk.get("error", "") for chunk in error.build_log)
        pytest.fail(f"docker build FROM {base} failed: {error}\n{log[-4000:]}", pytrace=False)
    # The id, not the tag: another session building at the same time may move the tag meanwhile.
    return image.id


def run_container(
    client: "DockerClient",
    image: str,
    env: dict[str, str],
    cwd: Path,
    timeout: float = 300,
    entrypoint: list[str] | None = None,
) -> PipeRun:
    """Run the pipe image like a Bitbucket step: variables as environment, cwd mounted at the same path."""
    workdir = str(cwd.resolve())
    container = client.containers.run(
        image,
        entrypoint=entrypoint,
        environment={key: str(value) for key, value in env.items()},
        volumes={workdir: {"bind": workdir, "mode": "rw"}},
        working_dir=workdir,
        network_mode="host",
        detach=True,
    )
    try:
        status = container.wait(timeout=timeout)
        stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        return PipeRun(int(status["StatusCode"]), stdout, stderr)
    finally:
        container.remove(force=True)


@pytest.fixture
def run_pipe_container(docker_client: "DockerClient", pipe_image: str) -> ContainerRunner:
    """Call as run_pipe_container(env, cwd) to run the built image and get a PipeRun back."""

    def run(env: dict[str, str], cwd: Path, timeout: float = 300) -> PipeRun:
        return run_container(docker_client, pipe_image, env, cwd, timeout)

    return run


@pytest.fixture
def container_workdir() -> Iterator[Path]:
    """An empty working directory inside the clone (Bitbucket's docker service mounts nothing else)."""
    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="container-", dir=WORK_ROOT))
    yield path
    # Files written by the root container may not be removable by a non-root user; leave those behind.
    shutil.rmtree(path, ignore_errors=True)
