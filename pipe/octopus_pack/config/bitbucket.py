"""What Bitbucket Pipelines' default variables say about the running build, read once from the environment."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BITBUCKET_HOST = "https://bitbucket.org"


@dataclass(frozen=True)
class BitbucketBuild:
    """The build's number, commit, branch and repository, each None when the variable is missing."""

    build_number: str | None
    commit: str | None
    branch: str | None  # the branch, or the tag on tag builds
    repo_full_name: str | None  # workspace/slug
    http_origin: str | None  # e.g. http://bitbucket.org/workspace/slug
    clone_dir: Path

    @property
    def build_url(self) -> str | None:
        """The pipeline result page, in the form Octopus' own Bitbucket sample uses."""
        if not self.build_number:
            return None
        repository = f"{BITBUCKET_HOST}/{self.repo_full_name}" if self.repo_full_name else self._origin_without_git()
        return f"{repository}/addon/pipelines/home#!/results/{self.build_number}" if repository else None

    @property
    def vcs_root(self) -> str | None:
        """The repository URL Octopus builds commit links from (Bitbucket's /commits/{sha})."""
        return self.http_origin or (f"{BITBUCKET_HOST}/{self.repo_full_name}" if self.repo_full_name else None)

    def _origin_without_git(self) -> str | None:
        if not self.http_origin:
            return None
        origin = self.http_origin.rstrip("/")
        return origin[: -len(".git")] if origin.endswith(".git") else origin


def bitbucket_build_from(env: Mapping[str, str], working_dir: Path | None = None) -> BitbucketBuild:
    """Read the BITBUCKET_* variables; outside Bitbucket most are None and the clone is the working directory."""

    def value(name: str) -> str | None:
        return (env.get(name) or "").strip() or None

    clone_dir = value("BITBUCKET_CLONE_DIR")
    return BitbucketBuild(
        build_number=value("BITBUCKET_BUILD_NUMBER"),
        commit=value("BITBUCKET_COMMIT"),
        branch=value("BITBUCKET_BRANCH") or value("BITBUCKET_TAG"),
        repo_full_name=value("BITBUCKET_REPO_FULL_NAME"),
        http_origin=value("BITBUCKET_GIT_HTTP_ORIGIN"),
        clone_dir=Path(clone_dir) if clone_dir else (working_dir or Path.cwd()),
    )
