"""octopus-pack pipe: pack files into an Octopus package (zip or nupkg), then optionally push it to Octopus.

Run as a Bitbucket pipe, with `docker run`, or natively: `python3 pipe/pipe.py` with the same variables.
"""

import logging
import os
import signal
import sys
import traceback
from collections.abc import Mapping
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

from bitbucket_pipes_toolkit import Pipe, fail

from octopus_pack.config.booleans import parse_boolean
from octopus_pack.config.octopus import OCTOPUS_SCHEMA, OctopusSettings, octopus_settings_from
from octopus_pack.config.pack import pack_settings_from
from octopus_pack.errors import PipeError
from octopus_pack.masking import install_mask, mask
from octopus_pack.metadata import PIPE_YML
from octopus_pack.pack.packager import build_package
from octopus_pack.package_result import PackageResult
from octopus_pack.report import write_result_files

# Every variable the pipe reads. Free text is 'string' (kept verbatim); arrays are Bitbucket arrays
# (NAME_COUNT, NAME_0, ...). Values are checked with clear messages in octopus_pack.config.pack.
schema = {
    "ID": {"type": "string", "required": True},
    "FORMAT": {"type": "string", "required": True},
    "VERSION": {"type": "string", "required": True},
    "SOURCE_PATH": {"type": "string", "required": True},
    "OUTPUT_PATH": {"type": "string", "required": True},
    "EXTRA_ARGS": {"type": "list", "required": False},
    "INCLUDE": {"type": "list", "required": False},
    "EXCLUDE": {"type": "list", "required": False},
    "OVERWRITE": {"type": "string", "required": False},
    "COMPRESSION_LEVEL": {"type": "string", "required": False},
    "AUTHORS": {"type": "list", "required": False},
    "TITLE": {"type": "string", "required": False},
    "DESCRIPTION": {"type": "string", "required": False},
    "RELEASE_NOTES": {"type": "string", "required": False},
    "RELEASE_NOTES_FILE": {"type": "string", "required": False},
    "SOURCE_DATE_EPOCH": {"type": "string", "required": False},
    **OCTOPUS_SCHEMA,
    "DEBUG": {"type": "boolean", "required": False, "default": False},
}

REQUIRED_EXAMPLES = {"ID": "MyCompany.MyApp", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": ".",
                     "OUTPUT_PATH": "./out"}


class OctopusPackPipe(Pipe):
    """Reads the variables, builds the package, reports it, and pushes it when an Octopus server is given."""

    def validate(self) -> dict:
        """The toolkit's validation, but with one actionable line per problem instead of a YAML dump."""
        for name, example in REQUIRED_EXAMPLES.items():
            if not self.env.get(name, "").strip():
                self.fail(f"{name} is required: add it to the pipe's variables, for example {name}: '{example}'.")
        debug = self.env.get("DEBUG", "false").strip().lower()
        if debug not in {"true", "false", "yes", "no", "on", "off", ""}:
            self.fail(f"DEBUG is '{self.env['DEBUG']}': use 'true' or 'false'.")
        return super().validate()

    def run(self) -> None:
        super().run()
        _quiet_third_party_debug()
        install_mask()  # credentials register themselves as they are read; no log line may show one
        cwd = Path.cwd()
        settings = pack_settings_from(self.variables, self.env, cwd)
        octopus = octopus_settings_from(self.variables, self.env)
        if settings.log_level is not None and not self.get_variable("DEBUG"):
            logging.getLogger().setLevel(settings.log_level)
        self.log_debug(f"Resolved options: {settings.request}")
        if octopus:
            self.log_debug(f"Octopus: {octopus.describe()}")

        with ExitStack() as later:
            destination = later.enter_context(_connect(octopus, self.env)) if octopus else None
            package = build_package(settings.request)
            self.report(package)
            if destination:
                destination.push(package)
        shown = f"{self.variables['OUTPUT_PATH'].rstrip('/')}/{package.path.name}"
        pushed = f" and pushed it to {octopus.server}" if octopus else ""
        self.success(f"Packaging successful. Created package {shown} ({package.file_count} files, "
                     f"{package.size:,} bytes){pushed}.")

    def report(self, package: PackageResult) -> None:
        """Print the package's facts and leave them where later script lines of the step can read them."""
        self.log_info(f"Package: {package.path}")
        self.log_info(f"Files: {package.file_count}, size: {package.size:,} bytes, SHA-256: {package.sha256}")
        storage = self.env.get("BITBUCKET_PIPE_SHARED_STORAGE_DIR")
        if storage:
            env_file = write_result_files(package, Path(storage))
            self.log_info(f"Package details for later script lines: source {env_file}")


def _connect(settings: OctopusSettings, env: Mapping[str, str]) -> AbstractContextManager:
    """Check the Octopus server, key and space before packing, so a typo fails in a second, not after a pack."""
    from octopus_pack.octopus.push import OctopusPush  # HTTP, git and delta code load only when pushing

    return OctopusPush(settings, env)


def _quiet_third_party_debug() -> None:
    """DEBUG is for our own detail: libraries (urllib3, docker, git) stay at INFO so nothing floods or leaks."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda record: record.levelno > logging.DEBUG or record.name.startswith("octopus_pack")
                          or record.name == "root")


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(f"Stopped by signal {signum}.")


def main() -> None:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # so a cancelled step still removes partial files
    install_mask()  # every line printed from here on, ours, the toolkit's, urllib3's and the final ✖, is masked
    debug = parse_boolean(os.environ.get("DEBUG", "")) is True
    try:
        OctopusPackPipe(pipe_metadata_file=str(PIPE_YML), schema=schema).run()
    except PipeError as error:
        message = mask(str(error))
        fail(message[:1].upper() + message[1:])
    except KeyboardInterrupt:
        fail("Interrupted: no package was written.")
    except Exception as error:  # a bug, not bad input: still one line, the traceback only with DEBUG
        if debug:
            traceback.print_exc()
        fail(mask(f"Unexpected error ({type(error).__name__}: {error}). Please report it with DEBUG: 'true' output."))


if __name__ == "__main__":
    sys.exit(main())
