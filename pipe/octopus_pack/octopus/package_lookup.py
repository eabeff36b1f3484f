"""Ask the built-in feed whether it holds a package version, and with which SHA-1.

One look-up serves the check before uploading (re-runs, overwrite modes), the check of an answer that carries
no Hash or cannot be read, and the check after an interrupted upload, so they never disagree about what
"the server has it" means.
"""

import logging
from dataclasses import dataclass
from typing import Any

from octopus_pack.errors import PipeError
from octopus_pack.octopus.answers import same_name
from octopus_pack.octopus.client import OctopusApiError, OctopusClient
from octopus_pack.octopus.spaces import Space
from octopus_pack.octopus.versions import same_version

log = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_PAGES = 10
"""1,000 versions of one package ID are searched when the server finds none by resource ID."""


class LookupFailed(Exception):
    """The server could not say (no FeedView permission, an error, an answer that is not Octopus)."""


@dataclass(frozen=True)
class ServerPackage:
    """The server's copy of one package version."""

    resource_id: str
    version: str  # as the server spells it (a normalised 1.0.0 for our 1.0)
    sha1: str | None  # lowercase hex; None when the server neither reports a Hash nor lets us read the file


def resource_ids(package_id: str, version: str) -> tuple[str, str]:
    """The resource ID servers hand out (packages-{id}.{version}) first, then the form Octopus.Client asks for."""
    return f"packages-{package_id}.{version}", f"{package_id}.{version}"


def find_package(client: OctopusClient, space: Space, package_id: str, version: str) -> ServerPackage | None:
    """The stored copy of `package_id` `version`, None when the server has none; LookupFailed when it cannot say.

    Where the resource has no Hash (today's API reference lists none on a single package), the stored file is
    read back from its `Links.Raw` and hashed: identity is never assumed from the name alone.
    """
    resource = _by_resource_id(client, space, package_id, version) or _by_listing(client, space, package_id, version)
    if resource is None:
        return None
    return ServerPackage(str(resource.get("Id") or ""), str(resource.get("Version")), _sha1(client, resource))


def _by_resource_id(client: OctopusClient, space: Space, package_id: str, version: str) -> dict[str, Any] | None:
    for resource_id in resource_ids(package_id, version):
        resource = _get(client, space.links.expand("Packages", id=resource_id))
        if resource is not None and describes(resource, package_id, version):
            return resource
        if resource is not None:
            log.debug(f"GET packages/{resource_id} answered with another resource; trying the next form.")
    return None


def _by_listing(client: OctopusClient, space: Space, package_id: str, version: str) -> dict[str, Any] | None:
    """The package list filtered by ID: the server may store our 1.0 as 1.0.0 under another resource ID."""
    for page_number in range(MAX_PAGES):
        path = space.links.expand("Packages", nuGetPackageId=package_id, skip=page_number * PAGE_SIZE, take=PAGE_SIZE)
        page = _get(client, path)
        items = [item for item in (page.get("Items") or []) if isinstance(item, dict)] if page else []
        found = next((item for item in items if describes(item, package_id, version)), None)
        if found is not None or len(items) < PAGE_SIZE:
            return found
    return None


def _get(client: OctopusClient, path: str) -> dict[str, Any] | None:
    try:
        answer = client.get_json(path)
    except OctopusApiError as error:
        if error.status == 404:
            return None
        raise LookupFailed(f"GET {error.path} answered HTTP {error.status}: {error.message}") from None
    except PipeError as error:
        raise LookupFailed(str(error)) from None
    return answer if isinstance(answer, dict) else None


def _sha1(client: OctopusClient, resource: dict[str, Any]) -> str | None:
    reported = resource.get("Hash")
    if isinstance(reported, str) and reported.strip():
        return reported.strip().lower()
    links = resource.get("Links")
    raw = links.get("Raw") if isinstance(links, dict) else None
    if not isinstance(raw, str) or not raw:
        return None
    try:
        digest = client.sha1_of(raw)
    except (OctopusApiError, PipeError) as error:
        log.debug(f"Could not read the stored package back from {raw}: {error}")
        return None
    log.debug(f"The server reported no Hash for {resource.get('Id')}; read the stored file back: SHA-1 {digest}.")
    return digest


def describes(resource: Any, package_id: str, version: str) -> bool:
    """Is this package resource the one for `package_id` `version`, in whatever spelling the server uses?"""
    if not isinstance(resource, dict):
        return False
    named = resource.get("PackageId") or resource.get("NuGetPackageId")
    return same_name(named, package_id) and same_version(resource.get("Version"), version)
