"""What a push did, for the closing lines and for later steps (package.env and package.json)."""

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote


class PackageOutcome(StrEnum):
    """What happened to the package file on the server."""

    UPLOADED = "uploaded"  # this run's bytes were stored (created or replaced)
    IDENTICAL = "identical"  # the server already held these exact bytes: nothing uploaded
    KEPT = "kept"  # the server holds other content under this version and kept it (IgnoreIfExists)
    SKIPPED = "skipped"  # PUSH_PACKAGE is false


class Transfer(StrEnum):
    """How the bytes travelled."""

    WHOLE = "whole"
    DELTA = "delta"
    NONE = "none"


class BuildInformationOutcome(StrEnum):
    PUSHED = "pushed"
    IDENTICAL = "identical"
    KEPT = "kept"
    NO_COMMIT = "no-commit"  # nothing to describe: no BITBUCKET_COMMIT and no git repository
    UNSUPPORTED = "unsupported"  # the server has no BuildInformation link (before Octopus 2019.9)
    SKIPPED = "skipped"  # PUSH_BUILD_INFORMATION is false


@dataclass(frozen=True)
class PackagePushed:
    """The package part of a push."""

    outcome: PackageOutcome
    transfer: Transfer = Transfer.NONE
    bytes_sent: int = 0


@dataclass(frozen=True)
class PushResult:
    """The whole push: the package, its build information, and where it went."""

    package: PackagePushed
    build_information: BuildInformationOutcome
    server: str
    space_id: str | None
    space_name: str
    package_id: str

    @property
    def web_url(self) -> str | None:
        """The package's page in the Octopus web UI (library > packages), when the package is on the server."""
        if self.package.outcome is PackageOutcome.SKIPPED:
            return None
        space = f"{quote(self.space_id, safe='')}/" if self.space_id else ""
        return f"{self.server}/app#/{space}library/builtinrepository/versions/{quote(self.package_id, safe='')}"

    def variables(self) -> dict[str, str]:
        """The names later script lines see after `source`-ing package.env (documented in docs/pushing.md)."""
        return {
            "OCTOPUS_PUSH_PACKAGE": self.package.outcome.value,
            "OCTOPUS_PUSH_TRANSFER": self.package.transfer.value,
            "OCTOPUS_PUSH_BYTES_SENT": str(self.package.bytes_sent),
            "OCTOPUS_PUSH_BUILD_INFORMATION": self.build_information.value,
            "OCTOPUS_PUSH_SERVER": self.server,
            "OCTOPUS_PUSH_SPACE_ID": self.space_id or "",
            "OCTOPUS_PUSH_SPACE_NAME": self.space_name,
            "OCTOPUS_PUSH_PACKAGE_URL": self.web_url or "",
        }
