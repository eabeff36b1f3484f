"""The one reader of Octopus's answers: their JSON, their error text, and whether a 2xx is really Octopus saying
yes (a proxy's sign-in page also says 200, and stores nothing)."""

import html
import re
from typing import Any

import requests

from octopus_pack.errors import MAX_QUOTED_CHARACTERS, PipeError, bounded
from octopus_pack.masking import mask

FIRST_WORDS = 12
MAX_QUOTED_ERRORS = 5
"""At most this many of an error answer's Errors[] entries are quoted (server text is bounded: errors.bounded)."""


def parsed_json(response: requests.Response, otherwise: Any = None) -> Any:
    """The answer's JSON document, whatever its Content-Type; `otherwise` when the body is not JSON."""
    try:
        return response.json()
    except ValueError:
        return otherwise


def json_object(response: requests.Response) -> dict[str, Any] | None:
    """The answer's JSON object, or None when it is not declared as JSON or is not an object."""
    if "json" not in response.headers.get("Content-Type", "").lower():
        return None
    body = parsed_json(response)
    return body if isinstance(body, dict) else None


def is_octopus_error(response: requests.Response) -> bool:
    """Octopus explains an error in a JSON object with ErrorMessage; a proxy's page does not."""
    body = parsed_json(response)
    return isinstance(body, dict) and "ErrorMessage" in body


def error_text(response: requests.Response) -> str:
    """Why the server said no, on one bounded, masked line: OAuth's error_description (or error) from the token
    endpoint, else Octopus's ErrorMessage followed by Errors[] entries, else the raw body."""
    body = parsed_json(response)
    if isinstance(body, dict) and (body.get("error_description") or body.get("error")):
        text = str(body.get("error_description") or body.get("error")).strip()
    elif isinstance(body, dict) and body.get("ErrorMessage"):
        parts = [str(body["ErrorMessage"]).strip()]
        errors = body.get("Errors") or []
        errors = errors if isinstance(errors, list) else [errors]
        more = [str(e).strip() for e in errors if str(e).strip() and str(e).strip() != parts[0]]
        parts += more[:MAX_QUOTED_ERRORS]
        if len(more) > MAX_QUOTED_ERRORS:
            parts.append(f"and {len(more) - MAX_QUOTED_ERRORS:,} more")
        text = " - ".join(parts)
    else:
        text = response.text.strip()[:MAX_QUOTED_CHARACTERS] or (response.reason or f"HTTP {response.status_code}")
    return mask(bounded(" ".join(text.split())))


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
