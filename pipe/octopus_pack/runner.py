"""The pipe's run, on the Bitbucket Pipes toolkit: build the package, report it, push it when a server is given.

Imported only once packing has a head start (pipe.py): the toolkit's imports take about a quarter of a second.
"""

import logging
from contextlib import AbstractContextManager, ExitStack
from enum import Enum

from bitbucket_pipes_toolkit import Pipe

from octopus_pack.config.settings import TOOLKIT_SCHEMA, Settings
from octopus_pack.metadata import PIPE_YML
from octopus_pack.pack.packager import HeadStart, build_package
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

    def __init__(self, settings: Settings, env: dict[str, str], head_start: HeadStart | None = None) -> None:
        self.settings = settings
        self.head_start = head_start
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
            package = self.package = build_package(settings.pack, self.head_start)
            self.phase = Phase.WRITTEN
            self.report(package)
            if destination:
                self.phase = Phase.PUSHING
                pushed = destination.push(package)
                storage = settings.results.shared_storage_dir
                if storage:
                    write_result_files(package, storage, pushed)
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
