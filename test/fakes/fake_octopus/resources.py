"""JSON documents the fake server returns, shaped like the real server's resources (see octopus-rest.md §4, §7).

Links are app-relative (`/api/...`) as on a real server, so a client must join them to its server URL itself.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from .state import BUILTIN_FEED_ID, Behaviour, Principal, Space, StoredPackage

INSTALLATION_ID = str(uuid.UUID(int=0x0C70_9005))


def space_links(space_id: str | None, behaviour: Behaviour) -> dict[str, str]:
    """The push-related links of a space root (or, without spaces, of the root), as the release publishes them."""
    base = f"/api/{space_id}" if space_id else "/api"
    upload_query = behaviour.upload_query
    links = {
        "Self": base,
        "SpaceHome": base,
        "PackageUpload": f"{base}/packages/raw{{?{upload_query}}}",
        "Packages": f"{base}/packages{{/id}}{{?nuGetPackageId,filter,latest,skip,take,includeNotes}}",
        "PackagesBulk": f"{base}/packages/bulk{{?ids}}",
    }
    if behaviour.build_information_enabled:
        query = "filter,packageId,latest,skip,take,overwriteMode"
        links["BuildInformation"] = f"{base}/build-information{{/id}}{{?{query}}}"
        links["BuildInformationBulk"] = f"{base}/build-information/bulk{{?ids}}"
    if behaviour.package_metadata_link:
        links["PackageMetadata"] = f"{base}/package-metadata{{/id}}{{?filter,packageId,latest,skip,take,replace}}"
    if behaviour.delta_enabled:
        links["PackageDeltaSignature"] = f"{base}/packages/{{packageId}}/{{version}}/delta-signature"
        links["PackageDeltaUpload"] = f"{base}/packages/{{packageId}}/{{baseVersion}}/delta{{?{upload_query}}}"
    return links


def root_document(behaviour: Behaviour, default_space: Space | None) -> dict[str, Any]:
    links = {
        "Self": "/api",
        "CurrentUser": "/api/users/me",
        "SpaceHome": "/api/{spaceId}",
        "Spaces": "/api/spaces{/id}{?name,skip,ids,take,partialName}",
        "Users": "/api/users{/id}{?skip,take,ids,filter}",
    }
    if not behaviour.spaces_enabled:  # before 2019.1: one implicit space, its links in the root
        for name in ("SpaceHome", "Spaces"):
            links.pop(name)
        default_space = None
        links.update({k: v for k, v in space_links(None, behaviour).items() if k not in ("Self", "SpaceHome")})
    if default_space is not None:
        copies = space_links(default_space.id, behaviour)
        for name in ("Self", "SpaceHome"):
            copies.pop(name)
        links.update(copies)
    return {
        "Application": "Octopus Deploy",
        "Version": behaviour.server_version,
        "ApiVersion": "3.0.0",
        "InstallationId": INSTALLATION_ID,
        "IsEarlyAccessProgram": False,
        "HasLongTermSupport": False,
        "Links": links,
    }


def space_root(space: Space, behaviour: Behaviour) -> dict[str, Any]:
    return {"Id": space.id, "Links": space_links(space.id, behaviour)}


def space_resource(space: Space) -> dict[str, Any]:
    return {
        "Id": space.id,
        "Name": space.name,
        "Slug": space.slug,
        "Description": space.description,
        "IsDefault": space.is_default,
        "IsPrivate": False,
        "TaskQueueStopped": False,
        "SpaceManagersTeams": [],
        "SpaceManagersTeamMembers": [],
        "Icon": None,
        "ExtensionSettings": [],
        "Links": {"Self": f"/api/spaces/{space.id}", "SpaceHome": f"/api/{space.id}"},
    }


def user_resource(principal: Principal) -> dict[str, Any]:
    user_id = principal.user_id
    return {
        "Id": user_id,
        "Username": principal.username,
        "DisplayName": principal.username.replace("-", " ").title(),
        "EmailAddress": f"{principal.username}@example.invalid",
        "IsService": True,
        "IsActive": True,
        "IsRequestor": True,
        "Links": {"Self": f"/api/users/{user_id}", "Spaces": f"/api/users/{user_id}/spaces"},
    }


def package_resource(
    package: StoredPackage, build_information: dict[str, Any] | None, *, with_hash: bool = True, spaces: bool = True
) -> dict[str, Any]:
    resource_id = f"packages-{package.package_id}.{package.version}"
    self_link = f"/api/{package.space_id}/packages/{resource_id}" if spaces else f"/api/packages/{resource_id}"
    resource = {
        "Id": resource_id,
        "PackageId": package.package_id,
        "NuGetPackageId": package.package_id,
        "FeedId": BUILTIN_FEED_ID,
        "NuGetFeedId": BUILTIN_FEED_ID,
        "Title": package.package_id,
        "Summary": None,
        "Version": package.version,
        "Description": None,
        "Published": package.published,
        "ReleaseNotes": None,
        "FileExtension": package.extension,
        "PackageSizeBytes": package.size,
        "Hash": package.sha1,
        "PackageVersionBuildInformation": build_information,
        "Links": {"Self": self_link, "Raw": f"{self_link}/raw"},
    }
    if not with_hash:
        del resource["Hash"]
    return resource


def error_body(message: str, errors: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    return {"ErrorMessage": message, "Errors": list(errors), **extra}


def paged(
    item_type: str,
    items: list[Any],
    skip: int,
    take: int,
    base_path: str,
    filters: dict[str, str],
    render: Callable[[Any], Any] = lambda item: item,
) -> dict[str, Any]:
    """A real server's paged collection: one page of `items` plus Page.* links that keep the filters."""
    total = len(items)
    take = max(take, 0)
    page = items[skip : skip + take] if take else []

    def link(page_skip: int) -> str:
        return f"{base_path}?{urlencode({**filters, 'skip': page_skip, 'take': take})}"

    pages = math.ceil(total / take) if take else 0
    links = {"Self": link(skip), "Page.All": f"{base_path}?{urlencode({**filters, 'skip': 0, 'take': 2**31 - 1})}"}
    links["Page.Current"] = link(skip)
    if skip + take < total:
        links["Page.Next"] = link(skip + take)
    if skip > 0:
        links["Page.Previous"] = link(max(0, skip - take))
    links["Page.Last"] = link(max(0, (pages - 1) * take))
    return {
        "ItemType": item_type,
        "TotalResults": total,
        "ItemsPerPage": take,
        "NumberOfPages": pages,
        "LastPageNumber": max(0, pages - 1),
        "Items": [render(item) for item in page],
        "Links": links,
    }
