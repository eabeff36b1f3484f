"""dev.py, the quick start's entry: a .venv that cannot run here (copied or mounted from elsewhere) is made again."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """dev.py with empty requirements: enough for it to create and fill a .venv, quickly."""
    shutil.copy(ROOT / "dev.py", tmp_path / "dev.py")
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "requirements.txt").write_text("")
    return tmp_path


@pytest.mark.parametrize("broken", ["a dangling interpreter link", "another Python version"])
def test_a_venv_from_another_machine_is_made_again(project: Path, broken: str) -> None:
    python = project / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    if broken == "a dangling interpreter link":
        python.symlink_to("/nonexistent/bin/python3.11")
    else:
        python.write_text("#!/bin/sh\necho '(3, 9)'\n")
        python.chmod(0o755)
    done = subprocess.run([sys.executable, "dev.py", "lint"], cwd=project, capture_output=True, text=True,
                          timeout=300)
    assert "dev.py: .venv/ was made by another python3 (or on another machine): making it again" in done.stderr
    version = subprocess.run([str(python), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                             text=True, check=True)
    assert version.stdout.strip() == str(sys.version_info[:2])
