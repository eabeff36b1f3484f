"""Turn the pipe's Octopus variables into one OctopusSettings object, refusing combinations that cannot work."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from octopus_pack.config import notices, values
from octopus_pack.config.credentials import (
    CREDENTIAL_VARIABLES,
    ApiKey,
    Credential,
    credential_from,
    describe_credential,
)
from octopus_pack.config.notices import Notice
from octopus_pack.config.proxies import Proxy, proxy_for
from octopus_pack.errors import PipeError
from octopus_pack.masking import register_secret

DEFAULT_TIMEOUT_SECONDS = 600  # octo's default request timeout
DEFAULT_COMMIT_LIMIT = 100

# Bounds, documented in the README's variables table.
MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 1, 86400
MIN_COMMIT_LIMIT, MAX_COMMIT_LIMIT = 1, 10000
MAX_URL_LENGTH = 2048
MAX_API_KEY_LENGTH = 200
MAX_ACCESS_TOKEN_LENGTH = 16384  # a JWT with many claims is a few KB
MAX_SPACE_LENGTH = 200

OCTOPUS_VARIABLES = (
    "OCTOPUS_SERVER", "OCTOPUS_APIKEY", "OCTOPUS_ACCESS_TOKEN", "OCTOPUS_SERVICE_ACCOUNT_ID", "OCTOPUS_SPACE",
    "OVERWRITE_MODE", "PUSH_PACKAGE", "PUSH_BUILD_INFORMATION",
    "DELTA_COMPRESSION", "OCTOPUS_TIMEOUT", "OCTOPUS_CA_BUNDLE", "OCTOPUS_INSECURE_SKIP_TLS_VERIFY",
    "BUILD_INFORMATION_COMMIT_LIMIT",
)
"""The Octopus variables pipe.yml and the README document; the settings layer declares them to the toolkit."""

ALIASES = {"OCTOPUS_SERVER": "OCTOPUS_URL", "OCTOPUS_APIKEY": "OCTOPUS_API_KEY"}
"""The Go CLI's and GitHub Actions' names, read from the raw environment so copied pipelines keep working."""

class OverwriteMode(StrEnum):
    """What the server does when the package or build information already exists (names as the API spells them)."""

    FAIL_IF_EXISTS = "FailIfExists"
    OVERWRITE_EXISTING = "OverwriteExisting"
    IGNORE_IF_EXISTS = "IgnoreIfExists"

    @classmethod
    def parse(cls, text: str) -> "OverwriteMode":
        """Accept the API names case-insensitively and the Go CLI's short forms (fail, ignore, overwrite)."""
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


@dataclass(frozen=True)
class OctopusSettings:
    """Where and how to push. The fields after `commit_limit` are tuning knobs for tests, not pipe variables."""

    server: str  # base URL, no trailing slash; may contain a sub-path such as https://host/octopus
    api_key: ApiKey | None = None  # the API-key way; give this or `credential`, not both
    space: str | None = None  # name or Spaces-N; None means the server's default space
    overwrite_mode: OverwriteMode = OverwriteMode.FAIL_IF_EXISTS
    push_package: bool = True
    push_build_information: bool = True
    delta_compression: bool = True
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    ca_bundle: Path | None = None
    insecure_skip_tls_verify: bool = False
    commit_limit: int = DEFAULT_COMMIT_LIMIT
    connect_timeout: float = 5.0  # a server that answered a moment ago connects well within this
    retries: int = 3
    backoff_factor: float = 1.0  # seconds; retry n waits backoff_factor * 2**(n-1)
    progress_interval: float = 10.0  # seconds between upload progress lines
    delta_size_limit: float = field(default=0.95, repr=False)  # Octopus.Client's rule: bigger deltas are not worth it
    credential: Credential | None = None  # an AccessToken or OidcExchange (an ApiKey works too)
    token_refresh_margin: float = 300.0  # seconds: an exchanged token with less left is renewed before a request
    proxy: Proxy | None = None  # from HTTPS_PROXY/HTTP_PROXY/NO_PROXY (config.proxies); None: connect directly

    def __post_init__(self) -> None:
        if (self.api_key is None) == (self.credential is None):
            raise ValueError("OctopusSettings needs exactly one of api_key and credential")

    @property
    def auth(self) -> Credential:
        """The credential to sign requests with, whichever field holds it."""
        return self.credential or self.api_key  # type: ignore[return-value]

    def describe(self) -> str:
        """One line for DEBUG output: every setting except the credential's value."""
        space = self.space or "(default space)"
        tls = "not verified" if self.insecure_skip_tls_verify else (f"CA bundle {self.ca_bundle}" if self.ca_bundle
                                                                     else "system CAs")
        return (
            f"server={self.server} {describe_credential(self.auth)} space={space} "
            f"overwrite_mode={self.overwrite_mode.value} push_package={self.push_package} "
            f"push_build_information={self.push_build_information} "
            f"delta_compression={self.delta_compression} timeout={self.timeout:g}s tls={tls} "
            f"commit_limit={self.commit_limit} proxy={self.proxy or 'none'}"
        )

    def __repr__(self) -> str:
        return f"OctopusSettings({self.describe()})"


@dataclass(frozen=True)
class _Tuning:
    """The variables read even when nothing is pushed, so a typo never waits for the day a server is added."""

    space: str | None
    overwrite_mode: OverwriteMode
    push_package: bool
    push_build_information: bool
    delta_compression: bool
    timeout: float
    ca_bundle: Path | None
    insecure_skip_tls_verify: bool
    commit_limit: int


def octopus_settings_from(env: Mapping[str, str], found: list[Notice] | None = None) -> OctopusSettings | None:
    """Settings for pushing, or None when OCTOPUS_SERVER is not given (the pipe then only packs).

    Every value is checked even when nothing is pushed, so a typo never waits for the day a server is added.
    Warnings go to `found`, for the runner to log once logging is set up.
    """
    found = [] if found is None else found
    server = _aliased("OCTOPUS_SERVER", env, MAX_URL_LENGTH)
    tuning = _Tuning(
        space=_space(env),
        overwrite_mode=OverwriteMode.parse(values.text(env, "OVERWRITE_MODE", 32) or "FailIfExists"),
        push_package=values.boolean(env, "PUSH_PACKAGE", True),
        push_build_information=values.boolean(env, "PUSH_BUILD_INFORMATION", True),
        delta_compression=values.boolean(env, "DELTA_COMPRESSION", True),
        timeout=values.seconds(env, "OCTOPUS_TIMEOUT", DEFAULT_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS,
                               MAX_TIMEOUT_SECONDS, "600"),
        ca_bundle=_ca_bundle(values.text(env, "OCTOPUS_CA_BUNDLE", 4096)),
        insecure_skip_tls_verify=values.boolean(env, "OCTOPUS_INSECURE_SKIP_TLS_VERIFY", False),
        commit_limit=values.whole_number(env, "BUILD_INFORMATION_COMMIT_LIMIT", DEFAULT_COMMIT_LIMIT,
                                         MIN_COMMIT_LIMIT, MAX_COMMIT_LIMIT, "100"),
    )
    if tuning.ca_bundle and tuning.insecure_skip_tls_verify:
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
    settings = OctopusSettings(
        server=base_url,
        api_key=credential if isinstance(credential, ApiKey) else None,
        credential=None if isinstance(credential, ApiKey) else credential,
        proxy=proxy_for(base_url, env),
        **vars(tuning),
    )
    if not settings.push_package and not settings.push_build_information:
        found.append(notices.warning("PUSH_PACKAGE and PUSH_BUILD_INFORMATION are both false, so nothing is pushed "
                                     "to Octopus."))
        return None
    return settings


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


def _aliased(name: str, env: Mapping[str, str], max_length: int, secret: bool = False) -> str | None:
    """The variable or its alias; both given with different values is a mistake worth stopping for."""
    alias = ALIASES[name]
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
        return _aliased(name, env, MAX_API_KEY_LENGTH, secret=True)
    if name == "OCTOPUS_ACCESS_TOKEN":
        try:
            return values.given(env, name, MAX_ACCESS_TOKEN_LENGTH)
        except PipeError:
            raise PipeError(f"{name} is longer than {MAX_ACCESS_TOKEN_LENGTH:,} characters: check that the variable "
                            "holds the access token itself.") from None
    return values.given(env, name, MAX_SPACE_LENGTH)


def _space(env: Mapping[str, str]) -> str | None:
    """A space name or Spaces-N: printable text, so it can be looked up and shown."""
    space = values.given(env, "OCTOPUS_SPACE", MAX_SPACE_LENGTH)
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
