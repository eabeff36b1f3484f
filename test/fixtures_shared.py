"""Reference data that lives beside the clone in ../shared on our machines, never in the repository.

A fresh clone (Bitbucket's own CI) has no ../shared: tests that need it skip and say why. `.ci/run` sets
OCTOPUS_PACK_REQUIRE_SHARED=1, which turns such a skip into a failure, so our CI still runs every one of them.
"""

import os
from pathlib import Path
from typing import NoReturn

import pytest

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
REQUIRE_SHARED = "OCTOPUS_PACK_REQUIRE_SHARED"


def shared_missing(path: Path) -> NoReturn:
    """Skip (or, with OCTOPUS_PACK_REQUIRE_SHARED=1, fail) because `path` under ../shared is absent."""
    if os.environ.get(REQUIRE_SHARED) == "1":
        pytest.fail(f"{path} is missing and {REQUIRE_SHARED}=1: put the shared reference data beside the clone")
    pytest.skip(f"{path} is not present (reference data beside the clone, in ../shared); "
                f"set {REQUIRE_SHARED}=1 to make this a failure")
