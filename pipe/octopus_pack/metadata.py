"""The pipe's own name and version, read from pipe.yml so the release bump is the single source."""

import re
from functools import cache
from pathlib import Path

PIPE_NAME = "octopus-pack"
PIPE_YML = Path(__file__).resolve().parents[2] / "pipe.yml"


@cache
def pipe_version() -> str:
    """The X.Y.Z of the image named in pipe.yml, or 'dev' when it cannot be read."""
    try:
        match = re.search(r"^image:\s*\S+:(\d+\.\d+\.\d+)\s*$", PIPE_YML.read_text(), re.MULTILINE)
    except OSError:
        return "dev"
    return match.group(1) if match else "dev"
