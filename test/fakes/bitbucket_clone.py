"""A stand-in for Bitbucket's side of a step: a git clone with two commits, and the variables Bitbucket sets."""

import subprocess
from pathlib import Path


def make_clone(root: Path) -> Path:
    """A git clone like Bitbucket's, with two commits."""
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.js").write_text("console.log('v1')")
    git = ["git", "-C", str(root), "-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "First commit"], check=True)
    (root / "src" / "app.js").write_text("console.log('v2')")
    subprocess.run([*git, "commit", "-q", "-am", "PET-1 second commit"], check=True)
    return root


def bitbucket_env(clone: Path, octopus, **changes: str) -> dict[str, str]:
    head = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"ID": "RandomQuotes", "FORMAT": "zip", "VERSION": "1.0.0.7", "SOURCE_PATH": "src", "OUTPUT_PATH": "out",
            "OCTOPUS_SERVER": octopus.url, "OCTOPUS_APIKEY": octopus.api_key, "BITBUCKET_BUILD_NUMBER": "7",
            "BITBUCKET_COMMIT": head, "BITBUCKET_BRANCH": "main", "BITBUCKET_CLONE_DIR": str(clone),
            "BITBUCKET_REPO_FULL_NAME": "octo/randomquotes", "BITBUCKET_GIT_HTTP_ORIGIN": "http://bitbucket.org/octo/randomquotes",
            **changes}
