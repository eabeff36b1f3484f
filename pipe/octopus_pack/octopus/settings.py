"""What the Octopus client is told: where and how to push, with which credential, through which proxy, for which
build. config/ builds these from the environment; nothing here reads it."""

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from octopus_pack.masking import HIDDEN, Secret

DEFAULT_TIMEOUT_SECONDS = 600  # octo's default request timeout
DEFAULT_COMMIT_LIMIT = 100
BITBUCKET_HOST = "https://bitbucket.org"


class OverwriteMode(StrEnum):
    """What the server does when the package or build information already exists (names as the API spells them)."""

    FAIL_IF_EXISTS = "FailIfExists"
    OVERWRITE_EXISTING = "OverwriteExisting"
    IGNORE_IF_EXISTS = "IgnoreIfExists"


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


@dataclass(frozen=True)
class Proxy:
    """A proxy URL and the variable it came from, for messages."""

    url: str
    variable: str

    def __str__(self) -> str:
        """The URL without any user:password, for log lines."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''} ({self.variable})"


@dataclass(frozen=True)
class BuildContext:
    """The build the package came from (number, commit, branch, repository), each None when unknown."""

    build_number: str | None
    commit: str | None
    branch: str | None  # the branch, or the tag on tag builds
    repo_full_name: str | None  # workspace/slug
    http_origin: str | None  # e.g. http://bitbucket.org/workspace/slug
    clone_dir: Path

    @property
    def build_url(self) -> str | None:
        """The pipeline result page, in the form Octopus' own Bitbucket sample uses."""
        if not self.build_number:
            return None
        repository = f"{BITBUCKET_HOST}/{self.repo_full_name}" if self.repo_full_name else self._origin_without_git()
        return f"{repository}/addon/pipelines/home#!/results/{self.build_number}" if repository else None

    @property
    def vcs_root(self) -> str | None:
        """The repository URL Octopus builds commit links from (Bitbucket's /commits/{sha})."""
        return self.http_origin or (f"{BITBUCKET_HOST}/{self.repo_full_name}" if self.repo_full_name else None)

    def _origin_without_git(self) -> str | None:
        if not self.http_origin:
            return None
        origin = self.http_origin.rstrip("/")
        return origin[: -len(".git")] if origin.endswith(".git") else origin


@dataclass(frozen=True)
class OctopusSettings:
    """Where and how to push. The fields after `commit_limit` are tuning knobs for tests, not pipe variables."""

    server: str  # base URL, no trailing slash; may contain a sub-path such as https://host/octopus
    credential: Credential
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
    token_refresh_margin: float = 300.0  # seconds: an exchanged token with less left is renewed before a request
    proxy: Proxy | None = None  # None: connect directly

    def describe(self) -> str:
        """One line for DEBUG output: every setting except the credential's value."""
        space = self.space or "(default space)"
        tls = "not verified" if self.insecure_skip_tls_verify else (f"CA bundle {self.ca_bundle}" if self.ca_bundle
                                                                     else "system CAs")
        return (
            f"server={self.server} {describe_credential(self.credential)} space={space} "
            f"overwrite_mode={self.overwrite_mode.value} push_package={self.push_package} "
            f"push_build_information={self.push_build_information} "
            f"delta_compression={self.delta_compression} timeout={self.timeout:g}s tls={tls} "
            f"commit_limit={self.commit_limit} proxy={self.proxy or 'none'}"
        )

    def __repr__(self) -> str:
        return f"OctopusSettings({self.describe()})"
