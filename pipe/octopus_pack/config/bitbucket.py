"""What Bitbucket Pipelines' default variables say about the running build, read once from the environment."""

from collections.abc import Mapping
from pathlib import Path

from octopus_pack.octopus.settings import BuildContext


def bitbucket_build_from(env: Mapping[str, str], working_dir: Path | None = None) -> BuildContext:
    """Read the BITBUCKET_* variables; outside Bitbucket most are None and the clone is the working folder."""

    def value(name: str) -> str | None:
        return (env.get(name) or "").strip() or None

    clone_dir = value("BITBUCKET_CLONE_DIR")
    return BuildContext(
        build_number=value("BITBUCKET_BUILD_NUMBER"),
        commit=value("BITBUCKET_COMMIT"),
        branch=value("BITBUCKET_BRANCH") or value("BITBUCKET_TAG"),
        repo_full_name=value("BITBUCKET_REPO_FULL_NAME"),
        http_origin=value("BITBUCKET_GIT_HTTP_ORIGIN"),
        clone_dir=Path(clone_dir) if clone_dir else (working_dir or Path.cwd()),
    )
