"""Turn the pipe's Octopus variables into one OctopusSettings object, refusing combinations that cannot work."""

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from octopus_pack.config.booleans import parse_boolean
from octopus_pack.config.credentials import CREDENTIAL_SCHEMA, ApiKey, Credential, credential_from, describe_credential
from octopus_pack.config.proxies import Proxy, proxy_for
from octopus_pack.errors import PipeError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 600  # octo's default request timeout
DEFAULT_COMMIT_LIMIT = 100

OCTOPUS_SCHEMA: dict[str, dict[str, Any]] = {
    "OCTOPUS_SERVER": {"type": "string", "required": False},
    **CREDENTIAL_SCHEMA,
    "OCTOPUS_SPACE": {"type": "string", "required": False},
    "OVERWRITE_MODE": {"type": "string", "required": False, "default": "FailIfExists"},
    "PUSH_PACKAGE": {"type": "boolean", "required": False, "default": True},
    "PUSH_BUILD_INFORMATION": {"type": "boolean", "required": False, "default": True},
    "DELTA_COMPRESSION": {"type": "boolean", "required": False, "default": True},
    "OCTOPUS_TIMEOUT": {"type": "number", "required": False, "default": DEFAULT_TIMEOUT_SECONDS, "min": 1},
    "OCTOPUS_CA_BUNDLE": {"type": "string", "required": False},
    "OCTOPUS_INSECURE_SKIP_TLS_VERIFY": {"type": "boolean", "required": False, "default": False},
    "BUILD_INFORMATION_COMMIT_LIMIT": {
        "type": "integer", "required": False, "default": DEFAULT_COMMIT_LIMIT, "min": 1,
    },
}  # fmt: skip
"""Cerberus entries for the Octopus variables; the lead merges them into pipe.py's schema."""

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
            f"OVERWRITE_MODE '{text}' is not valid: use FailIfExists, IgnoreIfExists or OverwriteExisting."
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

    def __post_init__(self) -> None:
        if (self.api_key is None) == (self.credential is None):
            raise ValueError("OctopusSettings needs exactly one of api_key and credential")

    @property
    def auth(self) -> Credential:
        """The credential to sign requests with, whichever field holds it."""
        return self.credential or self.api_key  # type: ignore[return-value]
    proxy: Proxy | None = None  # from HTTPS_PROXY/HTTP_PROXY/NO_PROXY (config.proxies); None: connect directly

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


def octopus_settings_from(variables: Mapping[str, Any], env: Mapping[str, str]) -> OctopusSettings | None:
    """Settings for pushing, or None when OCTOPUS_SERVER is not given (the pipe then only packs)."""
    server = _aliased("OCTOPUS_SERVER", variables, env)
    if not server:
        given = [name for name in CREDENTIAL_SCHEMA if _credential_variable(name, variables, env)]
        if given:
            log.warning(f"{given[0]} is set but OCTOPUS_SERVER is not, so nothing is pushed to Octopus.")
        return None
    credential = credential_from(variables, env, lambda name: _credential_variable(name, variables, env))
    base_url = normalised_server_url(server)
    settings = OctopusSettings(
        server=base_url,
        api_key=credential if isinstance(credential, ApiKey) else None,
        credential=None if isinstance(credential, ApiKey) else credential,
        space=_given(variables.get("OCTOPUS_SPACE")),
        overwrite_mode=OverwriteMode.parse(str(variables.get("OVERWRITE_MODE") or "FailIfExists")),
        push_package=_flag(variables, "PUSH_PACKAGE", True),
        push_build_information=_flag(variables, "PUSH_BUILD_INFORMATION", True),
        delta_compression=_flag(variables, "DELTA_COMPRESSION", True),
        timeout=float(variables.get("OCTOPUS_TIMEOUT") or DEFAULT_TIMEOUT_SECONDS),
        ca_bundle=_ca_bundle(variables.get("OCTOPUS_CA_BUNDLE")),
        insecure_skip_tls_verify=_flag(variables, "OCTOPUS_INSECURE_SKIP_TLS_VERIFY", False),
        commit_limit=int(variables.get("BUILD_INFORMATION_COMMIT_LIMIT") or DEFAULT_COMMIT_LIMIT),
        proxy=proxy_for(base_url, env),
    )
    if settings.ca_bundle and settings.insecure_skip_tls_verify:
        raise PipeError(
            "OCTOPUS_CA_BUNDLE and OCTOPUS_INSECURE_SKIP_TLS_VERIFY are both set: keep OCTOPUS_CA_BUNDLE "
            "(certificates are then checked against it) and remove OCTOPUS_INSECURE_SKIP_TLS_VERIFY."
        )
    if not settings.push_package and not settings.push_build_information:
        log.info("PUSH_PACKAGE and PUSH_BUILD_INFORMATION are both false, so nothing is pushed to Octopus.")
        return None
    return settings


def normalised_server_url(raw: str) -> str:
    """The base URL to join API paths to: a copied browser address (…/app#/Spaces-1) or …/api is cut back."""
    text = raw.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise PipeError(
            f"OCTOPUS_SERVER '{text}' is not an http(s) URL: use the address of your Octopus server, "
            "for example https://example.octopus.app."
        )
    path = parts.path.rstrip("/")
    for suffix in ("/app", "/api"):
        if path.lower().endswith(suffix):
            path = path[: -len(suffix)]
    base = urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))
    if base != text.rstrip("/"):
        log.info(f"Using {base} as the Octopus server address (the rest of OCTOPUS_SERVER is not needed).")
    return base


_UNEXPANDED = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def _given(value: Any) -> str | None:
    """A value the user really set: blank, or a `$NAME` pipe.yml default for an undefined variable, is unset."""
    text = str(value or "").strip()
    return None if not text or _UNEXPANDED.fullmatch(text) else text


def _aliased(name: str, variables: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """The variable or its alias; both given with different values is a mistake worth stopping for."""
    value = _given(variables.get(name))
    alias = ALIASES[name]
    alias_value = _given(env.get(alias))
    if value and alias_value and value != alias_value:
        raise PipeError(f"{name} and {alias} are both set, to different values: keep only {name}.")
    return value or alias_value


def _credential_variable(name: str, variables: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """A credential variable as set: through its alias where it has one, else as given."""
    return _aliased(name, variables, env) if name in ALIASES else _given(variables.get(name))


def _flag(variables: Mapping[str, Any], name: str, default: bool) -> bool:
    """The toolkit gives booleans; a plain string (a caller that skipped validation) is read the YAML way."""
    value = variables.get(name)
    if value is None:
        return default
    if isinstance(value, str):
        return parse_boolean(value) is True
    return bool(value)


def _ca_bundle(value: str | None) -> Path | None:
    if not value or not value.strip():
        return None
    path = Path(value.strip())
    if not path.is_file():
        raise PipeError(
            f"OCTOPUS_CA_BUNDLE '{value}' is not a file: give the path of a PEM file with your CA certificates, "
            "relative to the repository or absolute."
        )
    return path
