"""Trade Bitbucket's step OIDC token for a short-lived Octopus access token, and renew it before it runs out.

Octopus (2024.1 and later) trusts "Other Issuer" OIDC identities on a service account: the pipe asks the server
where its token endpoint is (`/.well-known/openid-configuration`), then posts an RFC 8693 token exchange with
the step token as subject and the service account ID as audience. The answer is a Bearer token that lasts
about an hour, so `RenewingAccessToken` exchanges again before any request that would start with too little
left; the step token itself is usually still valid then.
"""

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from octopus_pack.errors import PipeError
from octopus_pack.octopus.answers import error_text, parsed_json
from octopus_pack.octopus.settings import AccessToken

log = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"

Send = Callable[..., requests.Response]
"""`send(method, url, **requests_kwargs)`: an unauthenticated request with the client's TLS and timeouts, retried
after drops, 5xx and 429 like any other (the exchange is safe to repeat: each one only issues a new token)."""


@dataclass(frozen=True)
class IssuedToken:
    """An access token and when it stops working (seconds since the epoch, by our clock)."""

    token: AccessToken
    expires_at: float
    lifetime: float


def unverified_claims(jwt: str) -> dict[str, Any]:
    """The payload of a JWT, NOT verified: only to tell the user what the token claims. {} if unreadable."""
    parts = jwt.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def describe_claims(jwt: str) -> str:
    """`iss=..., sub=..., aud=...` of a token (claims are not secret; the token is)."""
    claims = unverified_claims(jwt)
    if not claims:
        return "its claims could not be read (it is not a JWT)"
    return ", ".join(f"{name}={json.dumps(claims.get(name))}" for name in ("iss", "sub", "aud"))


def utc_time(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%H:%M:%S UTC")


def discover_token_endpoint(send: Send, server: str) -> str:
    """`token_endpoint` from the server's OpenID configuration."""
    response = send("GET", server + DISCOVERY_PATH)
    _raise_if_unavailable(response, server, f"GET {DISCOVERY_PATH}")
    document = parsed_json(response)
    if response.status_code != 200 or not isinstance(document, dict) or not document.get("token_endpoint"):
        raise PipeError(
            f"OCTOPUS_SERVER {server} offers no OIDC token exchange (GET {DISCOVERY_PATH} answered HTTP "
            f"{response.status_code}{'' if response.status_code != 200 else ' without a token_endpoint'}): "
            "OIDC needs Octopus 2024.1 or newer; otherwise use OCTOPUS_APIKEY or OCTOPUS_ACCESS_TOKEN."
        )
    return str(document["token_endpoint"])


def exchange_step_token(
    send: Send, server: str, service_account_id: str, step_token: str, clock: Callable[[], float] = time.time
) -> IssuedToken:
    """Discover the token endpoint and exchange `step_token` for an access token of `service_account_id`."""
    endpoint = discover_token_endpoint(send, server)
    body = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "audience": service_account_id,
        "subject_token": step_token,
        "subject_token_type": JWT_TOKEN_TYPE,
    }
    asked_at = clock()
    response = send("POST", endpoint, json=body)
    _raise_if_unavailable(response, server, "the token exchange")
    answer = parsed_json(response)
    if response.status_code != 200 or not isinstance(answer, dict) or not answer.get("access_token"):
        raise _refused(response, service_account_id, step_token, clock())
    token = AccessToken(str(answer["access_token"]))  # masked from here on
    token_type = str(answer.get("token_type") or "Bearer")
    if token_type.lower() != "bearer":
        raise PipeError(f"Octopus issued a token of type {token_type!r} for service account {service_account_id}, "
                        "but only Bearer tokens can be sent: please report this with your Octopus version.")
    lifetime = _seconds(answer.get("expires_in"))
    return IssuedToken(token, asked_at + lifetime, lifetime)


class RenewingAccessToken:
    """The current exchanged token; a fresh one is fetched when less than `margin` seconds would be left."""

    def __init__(self, exchange: Callable[[], IssuedToken], margin: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._exchange = exchange
        self._margin = margin
        self._clock = clock
        self._issued: IssuedToken | None = None

    def current(self) -> IssuedToken:
        """The token to send now, renewed first if it is missing or about to run out."""
        issued = self._issued
        if issued is None:
            self._issued = self._exchange()
            log.info(f"Exchanged the step's OIDC token for an Octopus access token valid for "
                     f"{_duration(self._issued.lifetime)}.")
        elif issued.expires_at - self._clock() < self._margin:
            left = max(0.0, issued.expires_at - self._clock())
            self._issued = self._exchange()
            log.info(f"Renewed the Octopus access token ({_duration(left)} were left; the new one is valid for "
                     f"{_duration(self._issued.lifetime)}).")
        assert self._issued is not None  # exchanged above when it was missing
        return self._issued

    def has_expired(self) -> bool:
        """True when the token in use is past its lifetime by our clock."""
        return self._issued is not None and self._clock() >= self._issued.expires_at

    @property
    def issued(self) -> IssuedToken | None:
        return self._issued

    @property
    def margin(self) -> float:
        return self._margin


def _raise_if_unavailable(response: requests.Response, server: str, what: str) -> None:
    """A 5xx that outlasted the retries (`send` retries 5xx, 429 and drops) is the server's trouble, not a refusal."""
    if response.status_code >= 500:
        raise PipeError(
            f"OCTOPUS_SERVER {server} answered {what} with HTTP {response.status_code} on every attempt (OIDC "
            "sign-in): the server is unavailable or starting; run the step again later."
        )


def _refused(response: requests.Response, service_account_id: str, step_token: str,
             now: float) -> PipeError:
    """The one line for a refused exchange: the server's reason and what the step token claims."""
    reason = error_text(response)
    expired = ""
    exp = unverified_claims(step_token).get("exp")
    if isinstance(exp, int | float) and exp <= now:
        expired = f" The step token expired at {utc_time(exp)}."
    return PipeError(
        f"Octopus refused to exchange the step's OIDC token for an access token of service account "
        f"{service_account_id} (HTTP {response.status_code}: {reason}).{expired} The step token has "
        f"{describe_claims(step_token)}: make the service account's OIDC identity match them (issuer, subject "
        "pattern, and audience: the service account ID, set with `oidc: audiences: [...]` on the step, unless the "
        "identity has a custom audience)."
    )


def _seconds(value: Any) -> float:
    """expires_in as seconds; an hour when the server leaves it out (Octopus's usual lifetime)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 3600.0
    return seconds if seconds > 0 else 3600.0


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} minutes" if seconds >= 120 else f"{seconds:.0f} s"
