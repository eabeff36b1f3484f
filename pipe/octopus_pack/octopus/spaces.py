"""Find the space to push to: by ID (Spaces-N), by name case-insensitively, or the server's default space."""

import logging
import re
from dataclasses import dataclass, field, replace
from typing import Any

from octopus_pack.errors import PipeError, shortened
from octopus_pack.octopus.client import OctopusApiError, OctopusClient
from octopus_pack.octopus.connection import ServerInfo
from octopus_pack.octopus.links import ServerLinks

log = logging.getLogger(__name__)

SPACE_ID = re.compile(r"^Spaces-\d+$", re.IGNORECASE)
PAGE_SIZE = 100
MAX_PAGES = 50
"""5,000 spaces: far more than any real server has, few enough requests to end in seconds."""


@dataclass(frozen=True)
class Space:
    """A space, the path its API lives under, and the links its space root publishes."""

    id: str | None  # None on servers without spaces
    name: str
    links: ServerLinks = field(default_factory=lambda: ServerLinks(system={}), compare=False, repr=False)

    @property
    def api(self) -> str:
        """The path prefix of space-scoped routes: /api/Spaces-1, or /api on servers without spaces."""
        return f"/api/{self.id}" if self.id else "/api"

    def __str__(self) -> str:
        return f"'{self.name}' ({self.id})" if self.id else f"'{self.name}'"


def resolve_space(client: OctopusClient, server: ServerInfo, wanted: str | None) -> Space:
    """The space named by OCTOPUS_SPACE, or the default one; a PipeError lists the spaces the key can see."""
    if not server.has_spaces:
        if wanted:
            raise PipeError(
                f"OCTOPUS_SPACE is '{wanted}' but the Octopus server (version {server.version}) has no spaces: "
                "remove OCTOPUS_SPACE."
            )
        return Space(id=None, name="(no spaces)", links=server.links)
    space = _find(client, server.links, wanted)
    log.info(f"Using space {space}.")
    return replace(space, links=_space_links(client, server.links, space))


def _space_links(client: OctopusClient, links: ServerLinks, space: Space) -> ServerLinks:
    """The space root's links (GET SpaceHome, /api/Spaces-N), which win over the system root's."""
    if not links.has("SpaceHome"):
        return links.in_space({}, space.api)
    try:
        root = client.get_json(links.expand("SpaceHome", spaceId=space.id))
    except OctopusApiError as error:
        raise PipeError(f"Could not read the space root of space {space} on {client.server}: HTTP {error.status} "
                        f"({error.message})") from None
    return links.in_space(root, space.api)


def _find(client: OctopusClient, links: ServerLinks, wanted: str | None) -> Space:
    if wanted and SPACE_ID.match(wanted) and links.takes("Spaces", "id"):
        try:
            return _space(client.get_json(links.expand("Spaces", id=wanted)))
        except OctopusApiError as error:
            if error.status != 404:
                raise _listing_failed(client, error) from None
            # Not an ID after all: a space may be named like one.
    spaces = _all_spaces(client, links)
    if wanted is None:
        default = next((space for space in spaces if space.get("IsDefault")), None)
        if default is None:
            raise PipeError(
                f"The Octopus server has no default space: set OCTOPUS_SPACE to one of {_names(spaces)}."
            )
        return _space(default)
    key = wanted.casefold()
    match = next((s for s in spaces if str(s.get("Name", "")).casefold() == key), None)
    match = match or next((s for s in spaces if str(s.get("Id", "")).casefold() == key), None)
    if match is None:
        raise PipeError(f"OCTOPUS_SPACE '{wanted}' was not found: the credential can see {_names(spaces)}.")
    return _space(match)


def _all_spaces(client: OctopusClient, links: ServerLinks) -> list[dict[str, Any]]:
    """Every space the key's user can see, following the server's paging, but never for ever.

    Paging stops at an empty or short page, at TotalResults, at a page with nothing new (a server that
    ignores `skip`), and after MAX_PAGES pages whatever the server claims.
    """
    spaces: dict[str, dict[str, Any]] = {}
    for page_number in range(MAX_PAGES):
        try:
            page = client.get_json(links.expand("Spaces"), {"skip": page_number * PAGE_SIZE, "take": PAGE_SIZE})
        except OctopusApiError as error:
            raise _listing_failed(client, error) from None
        items = [item for item in ((page.get("Items") or []) if isinstance(page, dict) else page or [])
                 if isinstance(item, dict)]
        new = {str(item.get("Id")): item for item in items if str(item.get("Id")) not in spaces}
        spaces.update(new)
        total = page.get("TotalResults", 0) if isinstance(page, dict) else 0
        if len(items) < PAGE_SIZE or not new or len(spaces) >= total:
            return list(spaces.values())
    log.warning(f"Stopped listing spaces after {MAX_PAGES} pages ({len(spaces)} spaces); the server claims more.")
    return list(spaces.values())


def _listing_failed(client: OctopusClient, error: OctopusApiError) -> PipeError:
    if error.status == 403:
        return PipeError(
            f"The credential's user may not list spaces on {client.server} ({error.message}): give it the "
            "SpaceView permission, or use a key of a user who has it."
        )
    return PipeError(f"Could not look up spaces on {client.server}: HTTP {error.status} ({error.message})")


def _space(resource: Any) -> Space:
    return Space(id=str(resource["Id"]), name=str(resource.get("Name") or resource["Id"]))


MAX_LISTED_SPACES = 10
"""A line names at most this many spaces, then says how many more there are."""


def _names(spaces: list[dict[str, Any]]) -> str:
    if not spaces:
        return "no spaces at all (check the user's team memberships)"
    ordered = sorted(spaces, key=lambda s: str(s.get("Name")))
    named = ", ".join(f"'{shortened(str(s.get('Name')))}' ({shortened(str(s.get('Id')), 30)})"
                      for s in ordered[:MAX_LISTED_SPACES])
    more = len(ordered) - MAX_LISTED_SPACES
    return f"{named} and {more:,} more" if more > 0 else named
