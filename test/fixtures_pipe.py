"""Fixtures for running the pipe natively: `python3 pipe/pipe.py` with an environment, as Bitbucket would."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PIPE_ENTRY = REPO_ROOT / "pipe" / "pipe.py"


@dataclass
class PipeRun:
    """What a finished pipe run left behind: its exit code and everything it printed."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_pipe_natively(env: dict[str, str], cwd: Path, timeout: float = 300) -> PipeRun:
    """Run pipe/pipe.py in a child process with only `env` (plus PATH/HOME), like a pipe container."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
    full_env.update({key: str(value) for key, value in env.items()})
    done = subprocess.run(
        [sys.executable, str(PIPE_ENTRY)], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    return PipeRun(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def run_pipe():
    """Call as run_pipe(env, cwd) to run the pipe natively and get a PipeRun back."""
    return run_pipe_natively
