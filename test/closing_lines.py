"""The closing ✖ line of a failing run, computed in-process: far quicker than a child process per case.

pipe.py runs config's settings_from, then pack's build_package, and prints a PipeError from either as its one
closing line: masked, with anything that could break the line escaped. test/config/test_bad_values.py runs a
few cases both ways and checks that the child process prints exactly this line.
"""

from collections.abc import Mapping
from pathlib import Path

import pytest

from octopus_pack.config.settings import settings_from
from octopus_pack.errors import PipeError
from octopus_pack.masking import mask
from octopus_pack.pack.packager import build_package


def stop_message(env: Mapping[str, str], cwd: Path) -> str:
    """The PipeError message that stops a run with this environment before anything is pushed."""
    with pytest.raises(PipeError) as stopped:
        settings = settings_from(env, cwd)
        if settings.pack:
            build_package(settings.pack)
    return str(stopped.value)


def as_printed(message: str) -> str:
    """The line pipe.py prints for `message` (without the toolkit's colour)."""
    line = "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
                   for char in mask(message))
    return f"✖ {line}"
