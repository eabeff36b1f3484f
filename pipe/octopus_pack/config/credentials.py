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

from octopus_pack.errors import PipeError
from octopus_pack.masking import Secret, register_secret
from octopus_pack.octopus.settings import AccessToken, ApiKey, Credential, OidcExchange

API_KEY_FORMAT = re.compile(r"^API-[A-Z0-9]+$")

STEP_TOKEN_VARIABLE = "BITBUCKET_STEP_OIDC_TOKEN"

CREDENTIAL_VARIABLES = ("OCTOPUS_APIKEY", "OCTOPUS_ACCESS_TOKEN", "OCTOPUS_SERVICE_ACCOUNT_ID")
"""The three ways to sign in (the step token is Bitbucket's own variable, not the pipe's)."""

THREE_WAYS = (
    "OCTOPUS_APIKEY (an API key), OCTOPUS_ACCESS_TOKEN (an access token) or OCTOPUS_SERVICE_ACCOUNT_ID "
    "(the ID of a service account with an OIDC identity for Bitbucket, and `oidc: true` on the step)"
)


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
