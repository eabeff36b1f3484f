"""Which credential the pipe signs in to Octopus with, and from which variables.

Three ways, exactly one per run:
- OCTOPUS_APIKEY: a long-lived API key, sent as X-Octopus-ApiKey.
- OCTOPUS_ACCESS_TOKEN: an access token obtained elsewhere, sent as `Authorization: Bearer`.
- OCTOPUS_SERVICE_ACCOUNT_ID: exchange Bitbucket's step token (BITBUCKET_STEP_OIDC_TOKEN, present on steps with
  `oidc: true`) for a short-lived access token of that service account (octopus/oidc.py).
Setting more than one of the three is an error that names them: guessing which one was meant would hide a
leftover secret. BITBUCKET_STEP_OIDC_TOKEN on its own selects nothing, because every `oidc: true` step has it.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from octopus_pack.errors import PipeError
from octopus_pack.masking import HIDDEN, register_secret

API_KEY_FORMAT = re.compile(r"^API-[A-Z0-9]+$")

STEP_TOKEN_VARIABLE = "BITBUCKET_STEP_OIDC_TOKEN"

CREDENTIAL_VARIABLES = ("OCTOPUS_APIKEY", "OCTOPUS_ACCESS_TOKEN", "OCTOPUS_SERVICE_ACCOUNT_ID")
"""The three ways to sign in (the step token is Bitbucket's own variable, not the pipe's)."""

THREE_WAYS = (
    "OCTOPUS_APIKEY (an API key), OCTOPUS_ACCESS_TOKEN (an access token) or OCTOPUS_SERVICE_ACCOUNT_ID "
    "(the ID of a service account with an OIDC identity for Bitbucket, and `oidc: true` on the step)"
)


class Secret:
    """A value that prints as <hidden> and is masked in every log line from the moment it exists."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        """The value itself: only for a request header or body."""
        return self._value

    def __repr__(self) -> str:
        return HIDDEN

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and type(other) is type(self) and other._value == self._value

    def __hash__(self) -> int:
        return hash((type(self), self._value))


class ApiKey(Secret):
    """An Octopus API key (API-...), sent as X-Octopus-ApiKey."""

    __slots__ = ()
    variable = "OCTOPUS_APIKEY"


class AccessToken(Secret):
    """An Octopus access token, sent as `Authorization: Bearer`; given by the user or issued by an OIDC exchange."""

    __slots__ = ()
    variable = "OCTOPUS_ACCESS_TOKEN"


@dataclass(frozen=True)
class OidcExchange:
    """Trade the step's OIDC token for an access token of this service account, before packing and when needed."""

    service_account_id: str
    step_token: Secret
    variable = "OCTOPUS_SERVICE_ACCOUNT_ID"

    def __repr__(self) -> str:
        return f"OidcExchange(service_account_id={self.service_account_id}, step_token={HIDDEN})"


Credential = ApiKey | AccessToken | OidcExchange


def describe_credential(credential: Credential) -> str:
    """For DEBUG: which way, never the value."""
    if isinstance(credential, OidcExchange):
        return f"credential=OIDC (service account {credential.service_account_id}, step token {HIDDEN})"
    return f"credential={credential.variable} ({HIDDEN})"


def credential_from(env: Mapping[str, str], read: Callable[[str], str | None]) -> Credential:
    """The one credential the variables give; PipeError (one line with the fix) for none, several or a bad one.

    `read(name)` returns a variable as the user really set it (aliases applied, blanks and unexpanded pipe.yml
    defaults as None), so this module keeps the rules and config/octopus.py keeps the reading.
    """
    given = {name: read(name) for name in CREDENTIAL_VARIABLES}
    chosen = [name for name, value in given.items() if value]
    if len(chosen) > 1:
        raise PipeError(
            f"{' and '.join(chosen)} are each set, but a run uses exactly one credential: keep one and remove the "
            "others from the pipe's variables (set a workspace-wide one to '' on this pipe to switch it off)."
        )
    if not chosen:
        raise PipeError(f"OCTOPUS_SERVER is set but no credential is: set {THREE_WAYS}.")
    name = chosen[0]
    value = given[name]
    assert value is not None
    if name == "OCTOPUS_APIKEY":
        register_secret(value)
        if not API_KEY_FORMAT.match(value):
            raise PipeError(
                "OCTOPUS_APIKEY does not look like an Octopus API key (API- followed by capital letters and digits): "
                "check that the variable holds the key itself, without quotes or spaces."
            )
        return ApiKey(value)
    if name == "OCTOPUS_ACCESS_TOKEN":
        token = AccessToken(value.removeprefix("Bearer ").strip())
        if API_KEY_FORMAT.match(token.reveal()):
            raise PipeError("OCTOPUS_ACCESS_TOKEN holds an API key (API-...): pass it as OCTOPUS_APIKEY instead.")
        return token
    step_token = (env.get(STEP_TOKEN_VARIABLE) or "").strip()
    if not step_token:
        raise PipeError(
            f"OCTOPUS_SERVICE_ACCOUNT_ID is set but {STEP_TOKEN_VARIABLE} is not: add `oidc: true` to the step "
            "that runs the pipe, so Bitbucket gives it an OIDC token to exchange."
        )
    return OidcExchange(value, Secret(step_token))
