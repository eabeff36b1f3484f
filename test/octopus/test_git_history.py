"""Commits for build information, read with dulwich from real repositories made here with the git binary."""

import os
import subprocess
from pathlib import Path

import pytest

from octopus_pack.octopus.git_history import NoGitRepository, read_history


class GitRepo:
    """A throwaway repository with commits one minute apart (so history order is unambiguous)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = 1_700_000_000
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = os.environ | {
            "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "Dev",
            "GIT_COMMITTER_EMAIL": "dev@example.com", "GIT_AUTHOR_DATE": f"@{self.clock} +0000",
            "GIT_COMMITTER_DATE": f"@{self.clock} +0000", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
        }  # fmt: skip
        result = subprocess.run(["git", *args], cwd=self.path, env=env, check=True, capture_output=True, text=True)
        return result.stdout.strip()

    def commit(self, message: str) -> str:
        self.clock += 60
        name = f"change-{self.clock}.txt"  # a new file per commit, so branches merge without conflicts
        (self.path / name).write_text(message)
        self.git("add", name)
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


def test_without_a_previous_build_only_the_head_commit_is_listed(repo):
    repo.commit("first")
    head = repo.commit("PET-1 second\n\nwith a body")
    history = read_history(repo.path, head, None, limit=100)
    assert history.head == head
    assert [(c.id, c.comment) for c in history.commits] == [(head, "PET-1 second\n\nwith a body")]
    assert "no earlier build information" in history.note


def test_commits_since_the_previous_build_newest_first(repo):
    ids = [repo.commit(f"change {n}") for n in range(6)]
    history = read_history(repo.path, ids[-1], ids[2], limit=100)
    assert [c.id for c in history.commits] == ids[:2:-1]
    assert [c.comment for c in history.commits] == ["change 5", "change 4", "change 3"]
    assert history.note is None and not history.capped


def test_the_head_defaults_to_the_checked_out_commit(repo):
    first = repo.commit("one")
    head = repo.commit("two")
    history = read_history(repo.path, None, first, limit=100)
    assert history.head == head
    assert [c.id for c in history.commits] == [head]


def test_a_head_the_clone_lacks_falls_back_to_head_with_a_warning(repo, caplog):
    head = repo.commit("one")
    history = read_history(repo.path, "f" * 40, None, limit=100)
    assert history.head == head
    assert "not in the clone" in caplog.text


def test_the_same_commit_as_last_time_means_no_new_commits(repo):
    head = repo.commit("only")
    history = read_history(repo.path, head, head, limit=100)
    assert history.commits == [] and history.note is None


def test_the_limit_keeps_the_newest_commits_and_says_so(repo):
    ids = [repo.commit(f"change {n}") for n in range(10)]
    history = read_history(repo.path, ids[-1], ids[0], limit=4)
    assert [c.id for c in history.commits] == ids[:5:-1]
    assert history.capped


def test_commits_merged_from_a_branch_are_included(repo):
    base = repo.commit("base")
    repo.git("checkout", "-q", "-b", "feature")
    feature = repo.commit("feature work")
    repo.git("checkout", "-q", "main")
    main_work = repo.commit("main work")
    repo.clock += 60
    repo.git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    merge = repo.git("rev-parse", "HEAD")
    history = read_history(repo.path, merge, base, limit=100)
    assert {c.id for c in history.commits} == {merge, feature, main_work}
    assert history.commits[0].id == merge


def test_a_previous_commit_on_another_branch_is_not_a_range(repo):
    repo.commit("base")
    repo.git("checkout", "-q", "-b", "other")
    other = repo.commit("elsewhere")
    repo.git("checkout", "-q", "main")
    head = repo.commit("here")
    history = read_history(repo.path, head, other, limit=100)
    assert [c.id for c in history.commits] == [head]
    assert "not an ancestor" in history.note


def test_an_unknown_previous_commit_in_a_full_clone(repo):
    head = repo.commit("one")
    history = read_history(repo.path, head, "a" * 40, limit=100)
    assert [c.id for c in history.commits] == [head]
    assert "not in this clone" in history.note and "shallow" not in history.note


def test_a_previous_value_that_is_not_a_commit_id(repo):
    head = repo.commit("one")
    history = read_history(repo.path, head, "not-a-sha", limit=100)
    assert [c.id for c in history.commits] == [head]
    assert "not a commit ID" in history.note


def test_shallow_clones_fall_back_when_the_previous_commit_is_beyond_the_graft(repo, tmp_path):
    ids = [repo.commit(f"change {n}") for n in range(8)]
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "3", f"file://{repo.path}", str(clone)], check=True)
    beyond = read_history(clone, ids[-1], ids[1], limit=100)
    assert [c.id for c in beyond.commits] == [ids[-1]]
    assert "shallow clone" in beyond.note and "depth: full" in beyond.note
    within = read_history(clone, ids[-1], ids[5], limit=100)
    assert [c.id for c in within.commits] == [ids[7], ids[6]]


def test_a_history_walk_stops_at_the_shallow_boundary(repo, tmp_path):
    ids = [repo.commit(f"change {n}") for n in range(5)]
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{repo.path}", str(clone)], check=True)
    history = read_history(clone, ids[-1], None, limit=100)
    assert [c.id for c in history.commits] == [ids[-1]]


def test_no_repository(tmp_path):
    with pytest.raises(NoGitRepository, match="no git repository"):
        read_history(tmp_path, None, None, limit=100)


def test_a_repository_without_commits(repo):
    with pytest.raises(NoGitRepository, match="no commits"):
        read_history(repo.path, None, None, limit=100)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the clone to another user")
def test_a_clone_owned_by_another_user_is_read(repo):
    """Bitbucket's clone can belong to another uid; git refuses it ('dubious ownership'), dulwich does not care."""
    head = repo.commit("one")
    for root, dirs, files in os.walk(repo.path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), 165536, 165536)
    os.chown(repo.path, 165536, 165536)
    refused = subprocess.run(["git", "log", "-1"], cwd=repo.path, capture_output=True, text=True,
                             env=os.environ | {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"})
    assert "dubious ownership" in refused.stderr
    assert [c.id for c in read_history(repo.path, head, None, limit=100).commits] == [head]


def test_non_utf8_messages_are_decoded_by_their_declared_encoding(repo):
    repo.git("config", "i18n.commitEncoding", "ISO-8859-1")
    (repo.path / "file.txt").write_text("x")
    repo.git("add", "file.txt")
    message = "Café".encode("latin-1")
    subprocess.run(["git", "commit", "-q", "-F", "-"], cwd=repo.path, input=message, check=True,
                   env=os.environ | {"GIT_AUTHOR_NAME": "D", "GIT_AUTHOR_EMAIL": "d@e", "GIT_COMMITTER_NAME": "D",
                                     "GIT_COMMITTER_EMAIL": "d@e"})
    history = read_history(repo.path, None, None, limit=100)
    assert history.commits[0].comment == "Café"
