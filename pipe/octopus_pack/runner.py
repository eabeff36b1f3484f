"""The pipe's run, on the Bitbucket Pipes toolkit: build the package, report it, push it when a server is given.

Imported by pipe.py only once the settings are read and checked, so a bad value never waits for the toolkit.
"""

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack
from enum import Enum
from typing import TYPE_CHECKING

from bitbucket_pipes_toolkit import Pipe

from octopus_pack.config.settings import TOOLKIT_SCHEMA, Settings
from octopus_pack.metadata import PIPE_YML
from octopus_pack.pack.packager import build_package
from octopus_pack.package_result import PackageResult
from octopus_pack.report import write_result_files

if TYPE_CHECKING:
    from octopus_pack.octopus.push_list import Pushed
    from octopus_pack.octopus.push_result import PackageOutcome


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
        for notice in settings.notices:  # found while reading the settings, before logging was set up
            self.logger.log(notice.level, notice.message)
        self.log_debug(f"Resolved options: {settings.pack}" if settings.pack else
                       f"Nothing to pack; PACKAGES: {', '.join(str(package.path) for package in settings.packages)}")
        if settings.octopus:
            self.log_debug(f"Octopus: {settings.octopus.describe()}")

        if settings.pack is None:  # PACKAGES alone: push files built elsewhere, pack nothing
            self.push_listed()
            return
        with ExitStack() as later:
            destination = later.enter_context(_connect(settings)) if settings.octopus else None
            self.phase = Phase.PACKING
            package = self.package = build_package(settings.pack)
            self.phase = Phase.WRITTEN
            self.report((package, *settings.packages))
            if destination:
                from octopus_pack.octopus.push_list import push_in_order, tally  # with the HTTP code: only to push

                self.phase = Phase.PUSHING
                pushed = push_in_order(destination, (package, *settings.packages))
                self.record_pushes(pushed)
        shown = f"{settings.results.shown_output_path.rstrip('/')}/{package.path.name}"
        to = ""
        if settings.octopus and settings.packages:
            more = len(settings.packages)
            to = (f" and pushed it with {more} more package{'s' if more != 1 else ''} to {settings.octopus.server}: "
                  f"{tally(pushed)}")
        elif settings.octopus:
            to = _pushed_one(pushed[0].result.package.outcome, settings.octopus.server)
        self.success(f"Packaging successful. Created package {shown} ({package.file_count} files, "
                     f"{package.size:,} bytes){to}.")

    def push_listed(self) -> None:
        """Push the PACKAGES files one after another, and close with how many were uploaded or already there."""
        from octopus_pack.octopus.push_list import push_in_order, tally

        settings, packages = self.settings, self.settings.packages
        assert settings.octopus is not None, "settings_from refuses PACKAGES without a server"
        with _connect(settings) as destination:
            self.report(packages)
            self.phase = Phase.PUSHING
            pushed = push_in_order(destination, packages)
            self.record_pushes(pushed)
        count = f"{len(pushed)} package{'s' if len(pushed) != 1 else ''}"
        self.success(f"Pushed {count} to {settings.octopus.server}: {tally(pushed)}.")

    def report(self, packages: Sequence[PackageResult]) -> None:
        """Print each package's facts and leave them where later script lines of the step can read them."""
        for package in packages:
            self.log_info(f"Package: {package.path}")
            files = f"Files: {package.file_count}, size" if package.file_count is not None else "Size"
            self.log_info(f"{files}: {package.size:,} bytes, SHA-256: {package.sha256}")
        storage = self.settings.results.shared_storage_dir
        if storage:
            env_file = write_result_files(packages[0], storage, packages)
            self.log_info(f"Package details for later script lines: source {env_file}")

    def record_pushes(self, pushed: "Sequence[Pushed]") -> None:
        """Write the result files again, now with what each push did (OCTOPUS_PUSH_* and per-package facts)."""
        storage = self.settings.results.shared_storage_dir
        if storage and pushed:
            packages = [item.package for item in pushed]
            write_result_files(packages[0], storage, packages, [item.result for item in pushed])

    def interrupted(self, how: str) -> str:
        """The closing line for Ctrl-C or SIGTERM, true to what was already done."""
        package = self.package
        if package is None and self.phase is Phase.PUSHING and self.settings.octopus:
            return (f"{how} while pushing to {self.settings.octopus.server}: Octopus may not have every file of "
                    "PACKAGES or its build information; run the step again to push the rest (files already there "
                    "are not uploaded again).")
        if package is None:
            return f"{how}: no package was written."
        if self.phase is Phase.PUSHING and self.settings.octopus:
            listed = ", the PACKAGES files" if self.settings.packages else ""
            return (f"{how} while pushing to {self.settings.octopus.server}: the package {package.path} is complete "
                    f"on disk, but Octopus may not have it{listed} or its build information; run the step again to "
                    "push.")
        return f"{how} after the package was written: {package.path} is complete (SHA-256 {package.sha256})."


def _pushed_one(outcome: "PackageOutcome", server: str) -> str:
    """The end of the closing line after one package's push: what Octopus now holds, in a few words."""
    from octopus_pack.octopus.push_result import PackageOutcome

    return {
        PackageOutcome.UPLOADED: f" and pushed it to {server}",
        PackageOutcome.IDENTICAL: f"; {server} already held identical content, so nothing was uploaded",
        PackageOutcome.KEPT: f"; {server} kept the other content it holds under this version (IgnoreIfExists)",
        PackageOutcome.SKIPPED: f" and pushed its build information to {server}",
    }[outcome]


def _connect(settings: Settings) -> AbstractContextManager:
    """Check the Octopus server, key and space before packing, so a typo fails in a second, not after a pack."""
    from octopus_pack.octopus.push import OctopusPush  # HTTP, git and delta code load only when pushing

    assert settings.octopus is not None  # callers connect only when a server is set
    return OctopusPush(settings.octopus, settings.build)



def _quiet_third_party_debug() -> None:
    """DEBUG is for our own detail: libraries (urllib3, docker, git) stay at INFO so nothing floods or leaks."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda record: record.levelno > logging.DEBUG or record.name.startswith("octopus_pack")
                          or record.name == "root")
