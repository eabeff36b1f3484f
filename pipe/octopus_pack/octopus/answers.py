"""Is a 2xx answer really Octopus saying yes? A proxy's sign-in page also says 200, and stores nothing."""

import html
import re
from typing import Any

import requests

from octopus_pack.errors import PipeError, bounded

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
    content_type = bounded(response.headers.get("Content-Type") or "no content type", 100)
    words = bounded(first_words(response.text), 200)
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
