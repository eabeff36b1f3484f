"""Push a finished package and its build information to Octopus Deploy: the order of the steps, nothing more."""

import logging
from urllib.parse import urlsplit, urlunsplit

from octopus_pack.errors import PipeError
from octopus_pack.octopus.build_information import push_build_information
from octopus_pack.octopus.client import OctopusClient, user_agent
from octopus_pack.octopus.connection import check_server
from octopus_pack.octopus.package_push import push_package
from octopus_pack.octopus.push_result import BuildInformationOutcome, PackageOutcome, PackagePushed, PushResult
from octopus_pack.octopus.settings import BuildContext, OctopusSettings
from octopus_pack.octopus.spaces import resolve_space
from octopus_pack.package_result import PackageResult

log = logging.getLogger(__name__)


class OctopusPush:
    """A checked connection to one space: entering it verifies server, key and space, so typos fail before packing."""

    def __init__(self, settings: OctopusSettings, build: BuildContext) -> None:
        self.settings = settings
        self.build = build
        self.client = OctopusClient(settings, user_agent(in_pipeline=build.build_number is not None))

    def __enter__(self) -> "OctopusPush":
        settings = self.settings
        if settings.insecure_skip_tls_verify:
            log.warning(f"OCTOPUS_INSECURE_SKIP_TLS_VERIFY is true: the certificate of {settings.server} is not "
                        "checked, so the credential could be sent to an impostor. Prefer OCTOPUS_CA_BUNDLE.")
        if settings.proxy is not None:
            log.info(f"Connecting to {settings.server} through the proxy {settings.proxy}.")
        if settings.server.startswith("http://") and not _is_local(settings.server):
            log.warning(f"OCTOPUS_SERVER {settings.server} is plain http: the credential travels unencrypted.")
        self.client.__enter__()
        try:
            self.space = resolve_space(self.client, check_server(self.client), settings.space)
        except BaseException:
            self.client.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.__exit__(*exc_info)

    def push(self, package: PackageResult) -> PushResult:
        """Build information first, then the package; PipeError when anything is refused.

        With Automatic Release Creation the package push creates the release, and the release snapshot
        copies the build information there is at that moment: pushed later, its commits and work items
        would be missing from the release.
        """
        information = BuildInformationOutcome.SKIPPED
        if self.settings.push_build_information:
            try:
                information = push_build_information(self.client, self.space, package, self.build, self.settings)
            except PipeError as error:
                if not self.settings.push_package:
                    raise
                raise PipeError(f"{str(error).rstrip('.')}. {package.path.name} was not pushed: build information "
                                "goes first, so that a release created by the package push includes it.") from None
        pushed = PackagePushed(PackageOutcome.SKIPPED)
        if self.settings.push_package:
            pushed = push_package(self.client, self.space, package, self.settings)
        space_name = self.space.name if self.space.id else ""  # a server without spaces has no space to name
        return PushResult(pushed, information, _without_user_info(self.settings.server), self.space.id, space_name,
                          package.package_id)


def push_to_octopus(settings: OctopusSettings, package: PackageResult, build: BuildContext) -> PushResult:
    """Connect, check and push in one call."""
    with OctopusPush(settings, build) as octopus:
        return octopus.push(package)


def _without_user_info(url: str) -> str:
    """The server address for outputs: any user:password@ a user put into OCTOPUS_SERVER is left out."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", "")).rstrip("/")


def _is_local(url: str) -> bool:
    return urlsplit(url).hostname in ("localhost", "127.0.0.1", "::1")
