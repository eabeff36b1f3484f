"""Read the commits of a build from the clone with dulwich (pure Python: no git binary, no perl in the image)."""

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.errors import NotGitRepository
from dulwich.graph import can_fast_forward
from dulwich.objects import Commit as GitCommit
from dulwich.objects import ObjectID
from dulwich.repo import Repo

from octopus_pack.errors import NoGitRepository

log = logging.getLogger(__name__)

COMMIT_ID = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")  # SHA-1, or SHA-256 repositories


@dataclass(frozen=True)
class Commit:
    """A commit as build information carries it."""

    id: str
    comment: str


@dataclass
class CommitHistory:
    """The commits to report, newest first, and why the list may be shorter than one would expect."""

    head: str  # the commit the build is for
    commits: list[Commit] = field(default_factory=list)
    capped: bool = False  # more commits were in range than the limit allowed
    note: str | None = None  # why only the head commit is reported, when that happened


def read_history(clone_dir: Path, head: str | None, since: str | None, limit: int) -> CommitHistory:
    """Commits after `since` up to `head` (both hex IDs), at most `limit`, newest first.

    With no usable `since` (none given, not in the clone, not an ancestor of head) only `head` is returned and
    `note` says why. dulwich does not apply git's safe.directory ownership check, so clones owned by another
    user (as in Bitbucket's user-namespaced containers) read fine.
    """
    try:
        repo = Repo(str(clone_dir))
    except (NotGitRepository, OSError) as error:
        raise NoGitRepository(f"no git repository at {clone_dir}") from error
    with repo:
        head_id = _head(repo, head)
        head_commit = repo[head_id]
        assert isinstance(head_commit, GitCommit)
        history = CommitHistory(head=head_id.decode())
        if since is None:
            history.commits = [_commit(head_commit)]
            history.note = "there is no earlier build information for this package"
            return history
        since_id = ObjectID(since.strip().lower().encode())
        if not COMMIT_ID.match(since_id.decode()):
            history.commits = [_commit(head_commit)]
            history.note = f"the previous build information names '{since[:40]}', which is not a commit ID"
            return history
        if since_id == head_id:
            return history  # same commit as the previous build: nothing new
        if since_id not in repo.object_store:
            history.commits = [_commit(head_commit)]
            history.note = (
                f"the previous build's commit {since[:12]} is not in this clone"
                + (" (it is a shallow clone; set 'clone: depth: full' to include every commit)"
                   if repo.get_shallow() else "")
            )
            return history
        if not can_fast_forward(repo, since_id, head_id):
            history.commits = [_commit(head_commit)]
            history.note = f"the previous build's commit {since[:12]} is not an ancestor of {history.head[:12]}"
            return history
        walker = repo.get_walker(include=[head_id], exclude=[since_id], max_entries=limit + 1)
        commits = [_commit(entry.commit) for entry in walker]
        history.capped = len(commits) > limit
        history.commits = commits[:limit]
        return history


def _head(repo: Repo, wanted: str | None) -> ObjectID:
    """The build's commit: `wanted` when the clone has it, otherwise the checked-out HEAD."""
    if wanted:
        wanted_id = ObjectID(wanted.strip().lower().encode())
        if COMMIT_ID.match(wanted_id.decode()) and wanted_id in repo.object_store:
            return wanted_id
        log.warning(f"Commit {wanted[:12]} is not in the clone; reading history from HEAD instead.")
    try:
        return repo.head()
    except KeyError as error:
        raise NoGitRepository(f"the git repository at {repo.path} has no commits") from error


def _commit(commit: GitCommit) -> Commit:
    encoding = (commit.encoding or b"utf-8").decode("ascii", "replace")
    try:
        message = commit.message.decode(encoding, "replace")
    except LookupError:  # an encoding name Python does not know
        message = commit.message.decode("utf-8", "replace")
    return Commit(id=commit.id.decode(), comment=message.strip())
