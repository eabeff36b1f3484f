"""The up-front check: is OCTOPUS_SERVER an Octopus server we can reach, and does it accept the API key?"""

import logging
from dataclasses import dataclass
from typing import Any

from octopus_pack.errors import PipeError, key_rejected, shortened
from octopus_pack.octopus.client import OctopusApiError, OctopusClient
from octopus_pack.octopus.links import ServerLinks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerInfo:
    """What the root document says about the server."""

    version: str
    links: ServerLinks  # the root document's links: what this server can do, and where

    @property
    def has_spaces(self) -> bool:
        """Servers older than 2019.1 have no spaces (no Spaces link); their API lives directly under /api."""
        return self.links.has("Spaces")


def check_server(client: OctopusClient) -> ServerInfo:
    """Fail in one clear line before any upload starts if the address or the key is wrong."""
    try:
        root = client.get_json("/api")
    except OctopusApiError as error:
        if error.status == 401:
            raise key_rejected(client.server, error.message) from None
        raise PipeError(
            f"OCTOPUS_SERVER {client.server} is not an Octopus Deploy server: GET {error.path} answered "
            f"HTTP {error.status}. Use the address you open Octopus with in a browser, without /app."
        ) from None
    if not isinstance(root, dict) or "Octopus" not in str(root.get("Application", "")):
        raise PipeError(
            f"OCTOPUS_SERVER {client.server} is not an Octopus Deploy server: its /api answer is not an Octopus "
            "root document. Use the address you open Octopus with in a browser, without /app."
        )
    info = ServerInfo(version=str(root.get("Version") or "unknown"), links=ServerLinks.of(root))
    api_version = str(root.get("ApiVersion") or "")
    if api_version and not api_version.startswith("3."):
        log.warning(f"Octopus reports API version {api_version}; this pipe was written for 3.x.")
    user = _current_user(client, info.links)
    who = shortened(str(user.get("Username") or user.get("DisplayName") or "an unnamed user"), 100)
    log.info(f"Connected to Octopus Deploy {info.version} at {client.server} as {who}.")
    return info


def _current_user(client: OctopusClient, links: ServerLinks) -> dict[str, Any]:
    """GET CurrentUser (/api/users/me): the root document may be served anonymously, this proves the key works."""
    try:
        user = client.get_json(links.expand("CurrentUser"))
    except OctopusApiError as error:
        if error.status == 401:
            raise key_rejected(client.server, error.message) from None
        raise PipeError(f"OCTOPUS_SERVER {client.server} answered HTTP {error.status} to {error.path}: "
                        f"{error.message}") from None
    return user if isinstance(user, dict) else {}
