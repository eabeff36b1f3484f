"""octopus-pack pipe: pack files into an Octopus package (zip or nupkg), then optionally push it to Octopus.

Run as a Bitbucket pipe, with `docker run`, or natively: `python3 pipe/pipe.py` with the same variables.
"""

import signal
import sys
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from octopus_pack.config.settings import debug_requested, read_environment, settings_from
from octopus_pack.errors import PipeError, Stopped
from octopus_pack.masking import install_mask, mask
from octopus_pack.pack.packager import HeadStart

if TYPE_CHECKING:
    from octopus_pack.runner import OctopusPackPipe


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise Stopped(signum)


def _fail(message: str) -> None:
    """The one closing line: secrets masked, anything that could break it into several lines escaped."""
    line = mask(message)
    line = "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in line)
    from bitbucket_pipes_toolkit import fail  # loaded already, unless the settings were wrong

    fail(line[:1].upper() + line[1:])


def main() -> None:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # so a cancelled step still removes partial files
    install_mask()  # every line printed from here on, ours, the toolkit's, urllib3's and the final ✖, is masked
    env = read_environment()
    debug = debug_requested(env)
    pipe: OctopusPackPipe | None = None
    try:
        settings = settings_from(env, Path.cwd())
        # the files are listed while the toolkit loads; PACKAGES alone packs nothing
        with HeadStart(settings.pack) if settings.pack else nullcontext() as head_start:
            from octopus_pack import runner

            pipe = runner.OctopusPackPipe(settings, env, head_start)
            pipe.run()
    except PipeError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        _fail(pipe.interrupted("Interrupted") if pipe else "Interrupted: no package was written.")
    except Stopped as stop:
        how = f"Stopped by signal {stop.signum}"
        _fail(pipe.interrupted(how) if pipe else f"{how}: no package was written.")
    except Exception as error:  # a bug, not bad input: still one line, the traceback only with DEBUG
        if debug:
            traceback.print_exc()
        _fail(f"Unexpected error ({type(error).__name__}: {error}). Please report it with DEBUG: 'true' output.")


if __name__ == "__main__":
    sys.exit(main())
