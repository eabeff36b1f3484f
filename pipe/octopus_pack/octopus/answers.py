"""Is a 2xx answer really Octopus saying yes? A proxy's sign-in page also says 200, and stores nothing."""

import html
import re
from typing import Any

import requests

from octopus_pack.errors import PipeError

FIRST_WORDS = 12


def json_object(response: requests.Response) -> dict[str, Any] | None:
    """The answer's JSON object, or None when it is not JSON or not an object."""
    if "json" not in response.headers.get("Content-Type", "").lower():
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def same_name(left: Any, right: str) -> bool:
    """Octopus compares package IDs and versions case-insensitively (NuGet rules)."""
    return isinstance(left, str) and left.casefold() == right.casefold()


def not_octopus(response: requests.Response, what: str, expected: str, mask: Any = str) -> PipeError:
    """One line: what came back instead of `expected`, and the likely cause."""
    content_type = response.headers.get("Content-Type") or "no content type"
    words = first_words(response.text)
    seen = f"{content_type} starting '{mask(words)}'" if words else f"{content_type} with an empty body"
    cause = (
        "a proxy, firewall or sign-in page answered instead of Octopus: check OCTOPUS_SERVER and HTTPS_PROXY/"
        "HTTP_PROXY/NO_PROXY"
        if "html" in content_type.lower()
        else "something other than Octopus answered, or the server is too old or misconfigured"
    )
    return PipeError(
        f"Octopus did not confirm {what}: HTTP {response.status_code} came back as {seen}, not {expected}. "
        f"Likely cause: {cause}."
    )


def first_words(text: str) -> str:
    """The first words a person would read: tags, scripts and entities removed, whitespace collapsed."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text[:20_000])
    text = html.unescape(re.sub(r"(?s)<[^>]*>", " ", text))
    words = text.split()
    return " ".join(words[:FIRST_WORDS]) + (" …" if len(words) > FIRST_WORDS else "")


def same_version(left: Any, right: str) -> bool:
    """Whether Octopus sees two spellings as one package version, as NuGet's VersionComparer.Default does.

    Missing numeric parts are zeros (1.0 == 1.0.0 == 1.0.0.0), the pre-release label is compared case-insensitively
    and build metadata is ignored (NuGet/NuGet.Client src/NuGet.Core/NuGet.Versioning/VersionComparer.cs). A
    minimal stand-in until the shared version rules land; text that is not a version compares as a name.
    """
    if not isinstance(left, str):
        return False
    left_key, right_key = _version_key(left), _version_key(right)
    return left_key == right_key if left_key and right_key else same_name(left, right)


def _version_key(version: str) -> tuple[tuple[int, ...], str] | None:
    core, _, label = version.strip().partition("+")[0].partition("-")
    parts = core.split(".")
    if not 1 <= len(parts) <= 4 or not all(part.isascii() and part.isdigit() for part in parts):
        return None
    numbers = tuple(int(part) for part in parts)
    return numbers + (0,) * (4 - len(numbers)), label.casefold()
