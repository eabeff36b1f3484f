"""Ask the built-in feed whether it holds a package version, and with which SHA-1.

One look-up serves both the check before uploading (re-runs, overwrite modes) and the check after an
interrupted upload, so the two can never disagree about what "the server has it" means.
"""

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from octopus_pack.errors import PipeError
from octopus_pack.octopus.answers import same_name
from octopus_pack.octopus.client import OctopusApiError, OctopusClient
from octopus_pack.octopus.spaces import Space

log = logging.getLogger(__name__)


class LookupFailed(Exception):
    """The server could not say (no FeedView permission, an error, an answer that is not Octopus)."""


@dataclass(frozen=True)
class ServerPackage:
    """The server's copy of one package version."""

    resource_id: str
    sha1: str  # lowercase hex; "" when the server did not report a Hash


def resource_ids(package_id: str, version: str) -> tuple[str, str]:
    """The resource ID servers hand out (packages-{id}.{version}) first, then the form Octopus.Client asks for."""
    return f"packages-{package_id}.{version}", f"{package_id}.{version}"


def find_package(client: OctopusClient, space: Space, package_id: str, version: str) -> ServerPackage | None:
    """The stored copy of `package_id` `version`, None when the server has none; LookupFailed when it cannot say."""
    for resource_id in resource_ids(package_id, version):
        try:
            resource = client.get_json(f"{space.api}/packages/{quote(resource_id, safe='')}")
        except OctopusApiError as error:
            if error.status == 404:
                continue
            raise LookupFailed(f"GET {error.path} answered HTTP {error.status}: {error.message}") from None
        except PipeError as error:
            raise LookupFailed(str(error)) from None
        if _describes(resource, package_id, version):
            return ServerPackage(str(resource.get("Id") or resource_id), str(resource.get("Hash") or "").lower())
        log.debug(f"GET packages/{resource_id} answered with another resource; trying the next form.")
    return None


def _describes(resource: Any, package_id: str, version: str) -> bool:
    if not isinstance(resource, dict):
        return False
    named = resource.get("PackageId") or resource.get("NuGetPackageId")
    return same_name(named, package_id) and same_name(resource.get("Version"), version)
