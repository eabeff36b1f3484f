"""octopus-pack pipe: pack files into an Octopus package (zip or nupkg), then optionally push it to Octopus.

Run as a Bitbucket pipe, with `docker run`, or natively: `python3 pipe/pipe.py` with the same variables.
"""

import logging
import signal
import sys
import traceback
from contextlib import AbstractContextManager, ExitStack
from enum import Enum
from pathlib import Path

from bitbucket_pipes_toolkit import Pipe, fail

from octopus_pack.config.settings import TOOLKIT_SCHEMA, Settings, debug_requested, read_environment, settings_from
from octopus_pack.errors import PipeError, Stopped
from octopus_pack.masking import install_mask, mask
from octopus_pack.metadata import PIPE_YML
from octopus_pack.pack.packager import build_package
from octopus_pack.package_result import PackageResult
from octopus_pack.report import write_result_files


class Phase(Enum):
    """How far a run got, so an interruption says truthfully what is on disk and in Octopus."""

    PREPARING = "preparing"
    PACKING = "packing"
    WRITTEN = "written"
    PUSHING = "pushing"


class OctopusPackPipe(Pipe):
    """Builds the package from checked settings, reports it, and pushes it when an Octopus server is given."""

    def __init__(self, settings: Settings, env: dict[str, str]) -> None:
        self.settings = settings
        self.phase = Phase.PREPARING
        self.package: PackageResult | None = None
        super().__init__(pipe_metadata_file=str(PIPE_YML), schema=TOOLKIT_SCHEMA, env=env)

    def enable_debug_log_level(self) -> None:
        """DEBUG as our settings read it (the toolkit would take the string 'false' as true)."""
        if self.settings.logging.debug:
            self.logger.setLevel(logging.DEBUG)

    def run(self) -> None:
        super().run()
        _quiet_third_party_debug()
        settings = self.settings
        if settings.logging.level is not None:
            logging.getLogger().setLevel(settings.logging.level)
        self.log_debug(f"Resolved options: {settings.pack}")
        if settings.octopus:
            self.log_debug(f"Octopus: {settings.octopus.describe()}")

        with ExitStack() as later:
            destination = later.enter_context(_connect(settings)) if settings.octopus else None
            self.phase = Phase.PACKING
            package = self.package = build_package(settings.pack)
            self.phase = Phase.WRITTEN
            self.report(package)
            if destination:
                self.phase = Phase.PUSHING
                destination.push(package)
        shown = f"{settings.results.shown_output_path.rstrip('/')}/{package.path.name}"
        pushed = f" and pushed it to {settings.octopus.server}" if settings.octopus else ""
        self.success(f"Packaging successful. Created package {shown} ({package.file_count} files, "
                     f"{package.size:,} bytes){pushed}.")

    def report(self, package: PackageResult) -> None:
        """Print the package's facts and leave them where later script lines of the step can read them."""
        self.log_info(f"Package: {package.path}")
        self.log_info(f"Files: {package.file_count}, size: {package.size:,} bytes, SHA-256: {package.sha256}")
        storage = self.settings.results.shared_storage_dir
        if storage:
            env_file = write_result_files(package, storage)
            self.log_info(f"Package details for later script lines: source {env_file}")

    def interrupted(self, how: str) -> str:
        """The closing line for Ctrl-C or SIGTERM, true to what was already done."""
        package = self.package
        if package is None:
            return f"{how}: no package was written."
        if self.phase is Phase.PUSHING:
            return (f"{how} while pushing to {self.settings.octopus.server}: the package {package.path} is complete "
                    "on disk, but Octopus may not have it or its build information; run the step again to push.")
        return f"{how} after the package was written: {package.path} is complete (SHA-256 {package.sha256})."


def _connect(settings: Settings) -> AbstractContextManager:
    """Check the Octopus server, key and space before packing, so a typo fails in a second, not after a pack."""
    from octopus_pack.octopus.push import OctopusPush  # HTTP, git and delta code load only when pushing

    return OctopusPush(settings.octopus, settings.build)


def _quiet_third_party_debug() -> None:
    """DEBUG is for our own detail: libraries (urllib3, docker, git) stay at INFO so nothing floods or leaks."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda record: record.levelno > logging.DEBUG or record.name.startswith("octopus_pack")
                          or record.name == "root")


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise Stopped(signum)


def _fail(message: str) -> None:
    """The one closing line: secrets masked, anything that could break it into several lines escaped."""
    line = mask(message)
    line = "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in line)
    fail(line[:1].upper() + line[1:])


def main() -> None:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # so a cancelled step still removes partial files
    install_mask()  # every line printed from here on, ours, the toolkit's, urllib3's and the final ✖, is masked
    env = read_environment()
    debug = debug_requested(env)
    pipe: OctopusPackPipe | None = None
    try:
        pipe = OctopusPackPipe(settings_from(env, Path.cwd()), env)
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
