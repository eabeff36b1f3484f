"""octopus-pack pipe: pack files into an Octopus package (zip or nupkg), then optionally push it to Octopus.

Run as a Bitbucket pipe, with `docker run`, or natively: `.venv/bin/python pipe/pipe.py` with the same variables
(`python3 dev.py sample` creates .venv).
"""

import importlib.util
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from octopus_pack.errors import PipeError, Stopped
from octopus_pack.masking import install_mask, mask

if TYPE_CHECKING:  # the settings and what they import need the requirements: imported once they are checked
    from octopus_pack.config.notices import Notice
    from octopus_pack.config.settings import Settings
    from octopus_pack.runner import OctopusPackPipe


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise Stopped(signum)


def _fail(message: str, notices: "Sequence[Notice]" = ()) -> NoReturn:
    """The one closing line, as written (names, files and URLs keep their case): secrets masked, anything that
    could break it into several lines escaped. `notices` are warnings to print before it."""
    line = mask(message)
    line = "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in line)
    try:
        from bitbucket_pipes_toolkit import fail, get_logger  # loaded already, unless the settings were wrong
    except ImportError:  # run without the requirements: the same line, uncoloured
        print(f"✖ {line}", flush=True)
        sys.exit(1)
    for notice in notices:
        get_logger().log(notice.level, notice.message)
    fail(line)  # prints the line and exits 1
    sys.exit(1)


def _requirements_missing(module: str) -> str:
    return (f"This Python ({sys.executable}) lacks the pipe's requirements (no module named '{module}'): run "
            "'python3 dev.py sample' once, then '.venv/bin/python pipe/pipe.py' with the same variables; or run the "
            "Docker image.")


def main() -> None:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # so a cancelled step still removes partial files
    install_mask()  # every line printed from here on, ours, the toolkit's, urllib3's and the final ✖, is masked
    if importlib.util.find_spec("bitbucket_pipes_toolkit") is None:  # a plain python3, not the .venv or the image
        _fail(_requirements_missing("bitbucket_pipes_toolkit"))
    try:
        import octopus_pack.pack.packager  # noqa: F401 - the packing engine, with its requirements, loads here
        from octopus_pack.config.settings import debug_requested, read_environment, settings_from, typo_notices
    except ModuleNotFoundError as error:  # some requirements installed, not all
        _fail(_requirements_missing(error.name or "?"))
    env = read_environment()
    debug = debug_requested(env)
    pipe: OctopusPackPipe | None = None
    settings: Settings | None = None
    try:
        settings = settings_from(env, Path.cwd())
        from octopus_pack import runner

        pipe = runner.OctopusPackPipe(settings, env)
        pipe.run()
    except PipeError as error:  # when the settings failed, a mistyped variable name may be the reason
        _fail(str(error), () if settings else typo_notices(env))
    except KeyboardInterrupt:
        _fail(pipe.interrupted("Interrupted") if pipe else "Interrupted: no package was written.")
    except Stopped as stop:
        how = f"Stopped by signal {stop.signum}"
        _fail(pipe.interrupted(how) if pipe else f"{how}: no package was written.")
    except Exception as error:  # a bug, not bad input: still one line, the traceback only with DEBUG
        if isinstance(error, ModuleNotFoundError) and error.name and not error.name.startswith("octopus_pack"):
            _fail(_requirements_missing(error.name))  # some requirements installed, not all
        if debug:
            traceback.print_exc()
        _fail(f"Unexpected error ({type(error).__name__}: {error}). Please report it with DEBUG: 'true' output.")


if __name__ == "__main__":
    main()
