"""Turn the pipe's Octopus variables into one OctopusSettings object, refusing combinations that cannot work."""

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from octopus_pack.config import notices, values, variables
from octopus_pack.config.credentials import CREDENTIAL_VARIABLES, credential_from
from octopus_pack.config.notices import Notice
from octopus_pack.config.proxies import proxy_for
from octopus_pack.errors import PipeError
from octopus_pack.masking import register_secret
from octopus_pack.octopus.settings import OctopusSettings, OverwriteMode

ALIASES = {"OCTOPUS_SERVER": "OCTOPUS_URL", "OCTOPUS_APIKEY": "OCTOPUS_API_KEY"}
"""The Go CLI's and GitHub Actions' names, read from the raw environment so copied pipelines keep working."""


def overwrite_mode(text: str) -> OverwriteMode:
    """OVERWRITE_MODE: the API names case-insensitively and the Go CLI's short forms (fail, ignore, overwrite)."""
    key = text.strip().lower()
    for mode, spellings in _OVERWRITE_SPELLINGS.items():
        if key in spellings:
            return mode
    raise PipeError(
        f"OVERWRITE_MODE {values.quoted(text)} is not valid: use FailIfExists, IgnoreIfExists or OverwriteExisting."
    )


_OVERWRITE_SPELLINGS = {
    OverwriteMode.FAIL_IF_EXISTS: {"failifexists", "fail", ""},
    OverwriteMode.IGNORE_IF_EXISTS: {"ignoreifexists", "ignore"},
    OverwriteMode.OVERWRITE_EXISTING: {"overwriteexisting", "overwrite", "replace"},
}


def octopus_settings_from(env: Mapping[str, str], found: list[Notice] | None = None) -> OctopusSettings | None:
    """Settings for pushing, or None when OCTOPUS_SERVER is not given (the pipe then only packs).

    Every value is checked even when nothing is pushed, so a typo never waits for the day a server is added.
    Warnings go to `found`, for the runner to log once logging is set up.
    """
    found = [] if found is None else found
    server = _aliased("OCTOPUS_SERVER", env)
    space = _space(env)
    mode = overwrite_mode(variables.text(env, "OVERWRITE_MODE") or str(variables.TABLE["OVERWRITE_MODE"].default))
    push_package = variables.boolean(env, "PUSH_PACKAGE")
    push_build_information = variables.boolean(env, "PUSH_BUILD_INFORMATION")
    delta_compression = variables.boolean(env, "DELTA_COMPRESSION")
    timeout = variables.seconds(env, "OCTOPUS_TIMEOUT")
    ca_bundle = _ca_bundle(variables.text(env, "OCTOPUS_CA_BUNDLE"))
    insecure_skip_tls_verify = variables.boolean(env, "OCTOPUS_INSECURE_SKIP_TLS_VERIFY")
    commit_limit = variables.whole_number(env, "BUILD_INFORMATION_COMMIT_LIMIT")
    if ca_bundle and insecure_skip_tls_verify:
        raise PipeError(
            "OCTOPUS_CA_BUNDLE and OCTOPUS_INSECURE_SKIP_TLS_VERIFY are both set: keep OCTOPUS_CA_BUNDLE "
            "(certificates are then checked against it) and remove OCTOPUS_INSECURE_SKIP_TLS_VERIFY."
        )
    if not server:
        given = [name for name in CREDENTIAL_VARIABLES if _credential_variable(name, env)]
        if given:
            found.append(notices.warning(f"{given[0]} is set but OCTOPUS_SERVER is not, so nothing is pushed to "
                                         "Octopus."))
        return None
    credential = credential_from(env, lambda name: _credential_variable(name, env))
    base_url = normalised_server_url(server)
    if server_url_has_credentials(server):
        found.append(notices.warning(
            f"OCTOPUS_SERVER contains a user name or password: they were removed, because Octopus does not use "
            f"credentials in its URL. Set OCTOPUS_SERVER to {base_url} and sign in with OCTOPUS_APIKEY, "
            "OCTOPUS_ACCESS_TOKEN or OCTOPUS_SERVICE_ACCOUNT_ID."
        ))
    elif base_url != server.strip().rstrip("/"):
        found.append(notices.info(f"Using {base_url} as the Octopus server address (the rest of OCTOPUS_SERVER is "
                                  "not needed)."))
    proxy = proxy_for(base_url, env)
    if not push_package and not push_build_information:
        found.append(notices.warning("PUSH_PACKAGE and PUSH_BUILD_INFORMATION are both false, so nothing is pushed "
                                     "to Octopus."))
        return None
    return OctopusSettings(
        server=base_url,
        credential=credential,
        space=space,
        overwrite_mode=mode,
        push_package=push_package,
        push_build_information=push_build_information,
        delta_compression=delta_compression,
        timeout=timeout,
        ca_bundle=ca_bundle,
        insecure_skip_tls_verify=insecure_skip_tls_verify,
        commit_limit=commit_limit,
        proxy=proxy,
    )


def normalised_server_url(raw: str) -> str:
    """The base URL to join API paths to: a copied browser address (…/app#/Spaces-1) or …/api is cut back.

    A `user:password@` is taken out (and masked from here on): Octopus signs requests with an API key or a
    token, never with URL credentials (Octopus.Client takes the address and, separately, the key and any
    Windows credentials: OctopusDeploy/OctopusClients source/Octopus.Server.Client/OctopusServerEndpoint.cs).
    """
    text = raw.strip()
    parts = urlsplit(text)
    if parts.username or parts.password:
        for secret in (parts.username, parts.password):
            if secret:
                register_secret(secret)
                register_secret(unquote(secret))
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise PipeError(
            f"OCTOPUS_SERVER {values.quoted(_without_userinfo(text))} is not an http(s) URL: use the address of your "
            "Octopus server, for example https://example.octopus.app."
        )
    path = parts.path.rstrip("/")
    for suffix in ("/app", "/api"):
        if path.lower().endswith(suffix):
            path = path[: -len(suffix)]
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme.lower(), host, path, "", ""))


def server_url_has_credentials(raw: str) -> bool:
    """True when OCTOPUS_SERVER carries a `user:password@`, which the pipe drops (see normalised_server_url)."""
    return "@" in urlsplit(raw.strip()).netloc


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _aliased(name: str, env: Mapping[str, str], secret: bool = False) -> str | None:
    """The variable or its alias; both given with different values is a mistake worth stopping for."""
    alias, max_length = ALIASES[name], variables.max_length(name)
    try:
        value = values.given(env, name, max_length)
        alias_value = values.given(env, alias, max_length)
    except PipeError:
        if secret:  # never quote a key, not even a shortened one
            raise PipeError(f"{name} is longer than {max_length} characters: an Octopus API key is much shorter; "
                            "check that the variable holds the key itself.") from None
        raise
    if value and alias_value and value != alias_value:
        raise PipeError(f"{name} and {alias} are both set, to different values: keep only {name}.")
    return value or alias_value


def _credential_variable(name: str, env: Mapping[str, str]) -> str | None:
    """A credential variable as set (through its alias where it has one); a secret is never quoted back."""
    if name == "OCTOPUS_APIKEY":
        return _aliased(name, env, secret=True)
    if name == "OCTOPUS_ACCESS_TOKEN":
        try:
            return variables.given(env, name)
        except PipeError:
            raise PipeError(f"{name} is longer than {variables.max_length(name):,} characters: check that the "
                            "variable holds the access token itself.") from None
    return variables.given(env, name)


def _space(env: Mapping[str, str]) -> str | None:
    """A space name or Spaces-N: printable text, so it can be looked up and shown."""
    space = variables.given(env, "OCTOPUS_SPACE")
    if space is not None and not space.isprintable():
        raise PipeError(f"OCTOPUS_SPACE is {values.quoted(space)}: it contains a control character; use the "
                        "space's name as Octopus shows it, or its ID such as 'Spaces-1'.")
    return space


def _ca_bundle(value: str | None) -> Path | None:
    """A readable PEM file of CA certificates, loaded once here so a bad one is named before any request."""
    if not value or not value.strip():
        return None
    path = Path(value.strip())
    if not os.path.isfile(path):  # also refuses folders and devices such as /dev/zero
        raise PipeError(
            f"OCTOPUS_CA_BUNDLE {values.quoted(value)} is not a file: give the path of a PEM file with your CA "
            "certificates, relative to the repository or absolute."
        )
    import ssl  # only with a CA bundle: start-up stays light

    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as error:
        if isinstance(error, ssl.SSLError):
            found = error.reason != "NO_CERTIFICATE_OR_CRL_FOUND"
            reason = "a certificate in it is damaged" if found else "it holds no PEM certificate"
        else:
            reason = getattr(error, "strerror", None) or type(error).__name__
        raise PipeError(
            f"OCTOPUS_CA_BUNDLE {values.quoted(value)} could not be read as PEM CA certificates ({reason}): give a "
            "file of '-----BEGIN CERTIFICATE-----' blocks (convert a DER .cer file with `openssl x509 -inform der "
            "-in CA.cer -out CA.pem`)."
        ) from None
    return path
