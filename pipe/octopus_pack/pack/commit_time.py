"""The committer time of the build's commit, read with dulwich: the default entry time of a reproducible package.

Two fresh clones of one commit differ only in their files' times; giving every entry the commit's time instead
makes a Bitbucket Rerun pack the same bytes, which FailIfExists then accepts as identical content.
"""

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from dulwich.errors import NotGitRepository
from dulwich.objects import Commit
from dulwich.repo import Repo

_COMMIT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")  # SHA-1, or SHA-256 repositories


@dataclass(frozen=True)
class CommitTime:
    """A commit and its committer time, in seconds since the epoch (UTC)."""

    commit: str
    time: int


class NoCommitTime(Exception):
    """Why no commit time could be read; the message completes 'file times are kept, as ...'."""


def read_commit_time(clone_dir: Path, wanted: str | None, source_path: Path) -> CommitTime:
    """The time of `wanted` (BITBUCKET_COMMIT) if the clone has it, else of HEAD of the repository holding source_path.
    dulwich does not apply git's safe.directory ownership check, so clones owned by another user read fine."""
    commit_id = (wanted or "").strip().lower()
    if _COMMIT_ID.fullmatch(commit_id):
        # Not a clone, not in it, or not a readable commit: HEAD then.
        with contextlib.suppress(NotGitRepository, OSError, KeyError, ValueError, NoCommitTime), \
                Repo(str(clone_dir)) as clone:
            return _time_of(clone, commit_id.encode())
    try:
        repo = Repo.discover(str(source_path))
    except (NotGitRepository, OSError, ValueError):
        raise NoCommitTime("no git repository contains SOURCE_PATH") from None
    with repo:
        try:
            head = repo.head()
        except KeyError:
            raise NoCommitTime(f"the git repository at {repo.path} has no commits") from None
        try:
            return _time_of(repo, head)
        except (KeyError, OSError, ValueError):  # a damaged repository: a missing or unreadable object
            raise NoCommitTime(f"the git repository at {repo.path} cannot be read") from None


def _time_of(repo: Repo, commit_id: bytes) -> CommitTime:
    commit = repo[commit_id]
    if not isinstance(commit, Commit):
        raise NoCommitTime(f"{commit_id.decode()[:12]} is not a commit")
    return CommitTime(commit.id.decode(), commit.commit_time)
