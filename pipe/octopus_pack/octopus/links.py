"""The server's own links: which routes it has, and the URI templates to call them with.

Octopus.Client never hard-codes a route: it reads `Links` from the root document (GET /api) and from the
space root (GET /api/{spaceId}), and `Link(name)` looks in the space root first, then in the system root
(OctopusDeploy/OctopusClients, source/Octopus.Server.Client/OctopusAsyncRepository.cs). A link that is missing
means the server does not have that feature: no `BuildInformation` before 2019.9, no `Spaces` before 2019.1,
no delta links where delta compression is off. Templates are RFC 6570 and expanded with `uritemplate`,
which encodes a version's `+` and a name's spaces exactly as the server's own template binder expects.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from uritemplate import URITemplate

SPACE_SCOPED = re.compile(r"/Spaces-\d+(/|$|\{)", re.IGNORECASE)

FALLBACK_TEMPLATES = {
    "CurrentUser": "/api/users/me",
    "PackageUpload": "{space}/packages/raw{{?replace,overwriteMode}}",
    "Packages": "{space}/packages{{/id}}{{?nuGetPackageId,filter,latest,skip,take}}",
}
"""Routes every Octopus 3.x+ server has, used only when an answer carries no link for them at all (a proxy or
a minimal stand-in); features that came later (spaces, delta, build information) are never assumed."""


class MissingLink(Exception):
    """The server publishes no link of this name: it does not have the feature."""


@dataclass(frozen=True)
class ServerLinks:
    """The links of the system root and, once a space is chosen, of its space root."""

    system: Mapping[str, str]
    space: Mapping[str, str] = field(default_factory=dict)
    space_api: str = "/api"  # where space-scoped fallback routes live: /api/Spaces-1, or /api without spaces

    @classmethod
    def of(cls, document: Any) -> "ServerLinks":
        """The links of a root document (anything that is not a JSON object of strings is ignored)."""
        return cls(system=_links(document))

    def in_space(self, space_root: Any, space_api: str) -> "ServerLinks":
        """These links plus those of a space root, which win (as Octopus.Client's Link(name))."""
        # The system root of a server with spaces also carries the default space's links: never use those
        # for another space (a missing space link means the space lacks the feature).
        system = {name: link for name, link in self.system.items() if not SPACE_SCOPED.search(link)}
        return ServerLinks(system=system, space=_links(space_root), space_api=space_api)

    def template(self, name: str) -> str | None:
        """The link's template, space root first; the fallback for the few routes every server has."""
        found = self.space.get(name) or self.system.get(name)
        if found is None and name in FALLBACK_TEMPLATES:
            return FALLBACK_TEMPLATES[name].format(space=self.space_api)
        return found

    def has(self, name: str) -> bool:
        return (self.space.get(name) or self.system.get(name)) is not None

    def takes(self, name: str, variable: str) -> bool:
        """Does the link's template take `variable` (e.g. PackageUpload and overwriteMode)?"""
        template = self.template(name)
        return template is not None and variable in URITemplate(template).variable_names

    def expand(self, name: str, **values: Any) -> str:
        """The server path (and query) of link `name` with `values`; values that are None are left out."""
        template = self.template(name)
        if template is None:
            raise MissingLink(name)
        given: dict[str, Any] = {key: str(value) for key, value in values.items() if value is not None}
        return URITemplate(template).expand(given)


def _links(document: Any) -> dict[str, str]:
    links = document.get("Links") if isinstance(document, dict) else None
    if not isinstance(links, dict):
        return {}
    return {str(name): value for name, value in links.items() if isinstance(value, str) and value}
