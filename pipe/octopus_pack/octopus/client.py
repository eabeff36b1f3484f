"""A thin HTTP client for the Octopus REST API: one session, the key header, TLS, timeouts, retries, error text."""

import hashlib
import http.client
import json
import logging
import platform
import re
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor
from urllib3.util.retry import Retry

from octopus_pack.config.credentials import AccessToken, ApiKey, OidcExchange
from octopus_pack.config.octopus import OctopusSettings
from octopus_pack.errors import OctopusApiError, PipeError, TransferInterrupted
from octopus_pack.masking import mask
from octopus_pack.metadata import PIPE_NAME, pipe_version
from octopus_pack.octopus.oidc import IssuedToken, RenewingAccessToken, exchange_step_token, unverified_claims, utc_time

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({500, 502, 503, 504})
"""Answers worth asking again: the server is starting, overloaded, or a proxy in front of it hiccuped."""
MAX_WAIT_SECONDS = 30.0
"""No single pause between two attempts is longer, whatever backoff_factor and retries say."""


def user_agent(in_pipeline: bool) -> str:
    """`octopus-pack/1.2.3 (Linux; x86_64)`, plus ` BitBucket` in a pipeline, as Octopus.Client reports its CI."""
    agent = f"{PIPE_NAME}/{pipe_version()} ({platform.system() or 'unknown'}; {platform.machine() or 'unknown'})"
    return agent + " BitBucket" if in_pipeline else agent


class OctopusClient:
    """Every request to one Octopus server goes through here, so headers, TLS and timeouts are set once."""

    def __init__(self, settings: OctopusSettings, agent: str) -> None:
        self.server = settings.server
        self._credential = settings.auth
        self._exchanged: RenewingAccessToken | None = None
        if isinstance(self._credential, OidcExchange):
            self._exchanged = _renewing_token(self, self._credential, settings.token_refresh_margin)
        self._timeout = (settings.connect_timeout, settings.timeout)
        self.proxy = settings.proxy
        self._session = requests.Session()
        # Only config/ reads the environment: no *_PROXY, REQUESTS_CA_BUNDLE or .netrc behind our back.
        self._session.trust_env = False
        if settings.proxy is not None:
            self._session.proxies = {"http": settings.proxy.url, "https": settings.proxy.url}
        self._session.headers.update({"Accept": "application/json", "User-Agent": agent})
        self._verify: bool | str = True
        if settings.insecure_skip_tls_verify:
            self._verify = False
            # We warn once per run ourselves; urllib3 would otherwise warn on every request.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        elif settings.ca_bundle:
            self._verify = str(settings.ca_bundle)
        # Only GETs are retried here: a POST is retried by its caller, which first checks what the server kept.
        # A refused or unresolvable connection is tried once more at once and then reported, so a mistyped
        # OCTOPUS_SERVER fails in about a second; answers such as 503 (server starting) are retried with backoff.
        retry = _InterruptionRetry(
            total=None, connect=min(1, settings.retries), read=settings.retries, status=settings.retries, other=0,
            allowed_methods=frozenset({"GET"}), status_forcelist=RETRIED_STATUSES,
            backoff_factor=settings.backoff_factor, backoff_max=MAX_WAIT_SECONDS, raise_on_status=False,
            respect_retry_after_header=False,
        )  # fmt: skip
        adapter = HTTPAdapter(max_retries=retry)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __enter__(self) -> "OctopusClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.close()

    def url(self, path: str) -> str:
        """The URL of a server path or link, for a server installed at the root or under a sub-path.

        Octopus.Client (source/Octopus.Server.Client/DefaultLinkResolver.cs) joins `~/...` to the base URL and
        `/...` to the scheme and host, because a server under a virtual directory puts it in its links
        (/octopus/api/...). A link without the sub-path (a proxy that strips it) is joined to the base URL.
        """
        if path.startswith("~/"):
            return self.server + path[1:]
        parts = urlsplit(self.server)
        sub_path = parts.path.rstrip("/")
        if sub_path and path.lower().startswith(sub_path.lower() + "/"):
            return f"{parts.scheme}://{parts.netloc}{path}"
        return self.server + path

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a resource; OctopusApiError for an error answer, PipeError when the server cannot be reached."""
        try:
            response = self._send("GET", path, params=params)
        except TransferInterrupted as error:
            raise PipeError(f"Cannot reach OCTOPUS_SERVER {self.server}: {error}") from None
        self.raise_for_status(response)
        return self._json(response)

    def sha1_of(self, path: str) -> str:
        """The SHA-1 (lowercase hex) of a file the server streams, read in blocks: a package's `Links.Raw`."""
        try:
            response = self._send("GET", path, stream=True)
            with response:
                self.raise_for_status(response)
                digest = hashlib.sha1()
                for block in response.iter_content(1 << 20):
                    digest.update(block)
        except (TransferInterrupted, requests.RequestException) as error:
            raise PipeError(f"Cannot read {path} from {self.server}: {self.without_secret(str(error))}") from None
        return digest.hexdigest()

    def post_json(self, path: str, params: Mapping[str, Any], body: Any) -> requests.Response:
        """POST a JSON document and hand back the answer, whatever its status."""
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        return self._send("POST", path, params=params, data=data, headers=headers)

    def post_file(
        self,
        path: str,
        params: Mapping[str, Any],
        file_name: str,
        stream: BinaryIO,
        on_progress: Callable[[int], None] | None = None,
    ) -> requests.Response:
        """POST one file as multipart field `file`, streamed from disk with a known Content-Length."""
        encoder = MultipartEncoder(fields={"file": (file_name, stream, "application/octet-stream")})
        monitor = MultipartEncoderMonitor(encoder, (lambda m: on_progress(m.bytes_read)) if on_progress else None)
        headers = {"Content-Type": monitor.content_type, "Content-Length": str(monitor.len)}
        return self._send("POST", path, params=params, data=monitor, headers=headers)

    def raise_for_status(self, response: requests.Response) -> None:
        """Turn an error answer into OctopusApiError carrying the server's own explanation."""
        if response.status_code >= 400:
            raise OctopusApiError(
                response.status_code, response.request.method or "?", _path_of(response), self.error_text(response)
            )

    def error_text(self, response: requests.Response) -> str:
        """ErrorMessage followed by every Errors[] entry, on one line; the raw body when it is not Octopus JSON."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("ErrorMessage"):
            parts = [str(body["ErrorMessage"]).strip()]
            errors = body.get("Errors") or []
            parts += [str(e).strip() for e in errors if str(e).strip() and str(e).strip() != parts[0]]
            text = " - ".join(parts)
        else:
            text = response.text.strip()[:300] or (response.reason or f"HTTP {response.status_code}")
        return self.without_secret(" ".join(text.split()))

    def without_secret(self, text: str) -> str:
        """The text with every credential masked, for anything the server (or a library) might echo back."""
        return mask(text)

    @property
    def _credential_noun(self) -> str:
        return "API key" if isinstance(self._credential, ApiKey) else "access token"

    def _auth_headers(self) -> dict[str, str]:
        """The credential's header for the next request; an exchanged token is renewed here when it runs low."""
        credential = self._credential
        if isinstance(credential, ApiKey):
            return {"X-Octopus-ApiKey": credential.reveal()}
        token = self._exchanged.current().token if self._exchanged else credential
        assert isinstance(token, AccessToken)
        return {"Authorization": f"Bearer {token.reveal()}"}

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs["headers"] = {**self._auth_headers(), **(kwargs.get("headers") or {})}
        response = self._send_unauthenticated(method, self.url(path), **kwargs)
        if response.status_code == 401 and not isinstance(self._credential, ApiKey):
            raise token_rejected(self._credential, self._exchanged, self.server, method, path,
                                 self.error_text(response))
        return response

    def _send_unauthenticated(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request with no credential header: the OIDC discovery and exchange, and the base of _send."""
        path = _path_and_query(url, self.server)
        started = time.monotonic()
        try:
            # Redirects are not followed: requests would carry the credential's header to any host.
            response = self._session.request(
                method, url, timeout=self._timeout, verify=self._verify, allow_redirects=False, **kwargs
            )
        except (requests.ConnectionError, requests.Timeout) as error:
            # An SSLError is usually a reset or a close mid-transfer (EOF in violation of protocol): only a
            # failed certificate check is a certificate problem; everything else is retried with recovery.
            if isinstance(_root_cause(error), ssl.SSLCertVerificationError):
                raise PipeError(
                    f"The TLS certificate of OCTOPUS_SERVER {self.server} could not be verified "
                    f"({self.without_secret(connection_problem(error))}): set OCTOPUS_CA_BUNDLE to the PEM file of "
                    "the CA that signed it (OCTOPUS_INSECURE_SKIP_TLS_VERIFY: 'true' only as a last resort)."
                ) from None
            timed_out = isinstance(error, requests.Timeout) and not isinstance(error, requests.ConnectTimeout)
            problem = connection_problem(error)
            if isinstance(error, requests.exceptions.ProxyError) and self.proxy is not None:
                problem = f"through the proxy {self.proxy}: {problem}"
            raise TransferInterrupted(self.without_secret(problem), timed_out) from None
        log.debug(f"{method} {path} -> {response.status_code} ({time.monotonic() - started:.2f} s)")
        if response.is_redirect:
            target = response.headers.get("Location", "")
            raise PipeError(
                f"OCTOPUS_SERVER {self.server} redirects {path} to {self.without_secret(target)}: set OCTOPUS_SERVER "
                f"to the address it redirects to (the {self._credential_noun} is not sent after a redirect)."
            )
        return response

    @staticmethod
    def _json(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise OctopusApiError(
                response.status_code, response.request.method or "?", _path_of(response),
                f"expected JSON but got {response.headers.get('Content-Type') or 'no content type'}",
            ) from None  # fmt: skip


def _renewing_token(client: OctopusClient, credential: OidcExchange, margin: float) -> RenewingAccessToken:
    """The exchanged token of `credential`, fetched with the client's TLS and timeouts but no credential header."""

    def exchange() -> IssuedToken:
        try:
            return exchange_step_token(client._send_unauthenticated, client.server, credential.service_account_id,
                                       credential.step_token.reveal())
        except TransferInterrupted as error:
            raise PipeError(f"Cannot reach OCTOPUS_SERVER {client.server} for the OIDC token exchange: "
                            f"{error}") from None

    return RenewingAccessToken(exchange, margin)


def token_rejected(credential: object, exchanged: RenewingAccessToken | None, server: str, method: str, path: str,
                   server_said: str) -> PipeError:
    """A 401 to a Bearer token: say whether it had expired, since that is what usually happened."""
    if exchanged is not None and exchanged.issued is not None:
        account = credential.service_account_id if isinstance(credential, OidcExchange) else "?"
        if exchanged.has_expired():
            return PipeError(
                f"The Octopus access token of service account {account} expired at "
                f"{utc_time(exchanged.issued.expires_at)}, during {method} {path} (it lasts "
                f"{exchanged.issued.lifetime / 60:.0f} minutes; {server} said: {server_said}): run the step again "
                f"(a new token is exchanged before any request that would start with less than "
                f"{exchanged.margin:.0f} s left)."
            )
        return PipeError(
            f"{server} rejected the access token of service account {account} that it had just issued "
            f"({method} {path}: {server_said}): check that the service account is still enabled."
        )
    assert isinstance(credential, AccessToken)
    exp = unverified_claims(credential.reveal()).get("exp")
    if isinstance(exp, int | float) and exp <= time.time():
        return PipeError(
            f"OCTOPUS_ACCESS_TOKEN expired at {utc_time(exp)}, so {server} refused {method} {path} ({server_said}): "
            "pass a new access token, or set OCTOPUS_SERVICE_ACCOUNT_ID instead so the pipe exchanges Bitbucket's "
            "OIDC token for a fresh one on every run."
        )
    return PipeError(
        f"OCTOPUS_ACCESS_TOKEN was rejected by {server} ({server_said}): pass a current access token for this "
        "server (tokens last about an hour), or use OCTOPUS_SERVICE_ACCOUNT_ID with `oidc: true` on the step."
    )


def _path_and_query(url: str, server: str) -> str:
    """What log lines and messages show for a URL: the part after the server address."""
    return (url[len(server):] or "/") if url.startswith(server) else url
class _InterruptionRetry(Retry):
    """One path for every interrupted GET: urllib3 counts TLS errors and proxy-wrapped drops as 'other'
    and never retries them, but a reset or EOF under TLS or through a proxy is a read error like any other.
    Certificate failures and refused connections (to the server or the proxy) are not read errors."""

    def _is_read_error(self, err: Exception) -> bool:
        if isinstance(err, urllib3.exceptions.ProxyError):
            err = err.original_error
            if isinstance(err, urllib3.exceptions.ConnectTimeoutError):
                return False
            if not isinstance(err, urllib3.exceptions.SSLError):
                return isinstance(err, OSError | http.client.HTTPException | urllib3.exceptions.ProtocolError)
        if isinstance(err, urllib3.exceptions.SSLError):
            return not isinstance(_root_cause(err), ssl.SSLCertVerificationError)
        return super()._is_read_error(err)


def connection_problem(error: BaseException) -> str:
    """The root cause of a requests failure ('[Errno 111] Connection refused'), without urllib3's wrapping."""
    reason = _root_cause(error)
    if isinstance(reason, urllib3.exceptions.NewConnectionError):  # a subclass of ConnectTimeoutError
        text = str(reason)
    elif isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
        return "timed out while connecting"
    elif isinstance(reason, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
        return "no answer before the timeout"
    else:
        text = str(reason) or type(reason).__name__
    text = re.sub(r"^(<[^>]*>|\w*Connection(Pool)?\([^)]*\)):\s*", "", text)  # urllib3 names the connection first
    text = re.sub(r"^Failed to establish a new connection:\s*", "", text)
    return " ".join(text.split())


def _root_cause(error: BaseException) -> BaseException:
    """Follow urllib3's `reason` and the exceptions nested in args down to the first cause."""
    seen = {id(error)}
    while True:
        inner = getattr(error, "reason", None)
        candidates = [inner] if isinstance(inner, BaseException) else []
        candidates += [arg for arg in error.args if isinstance(arg, BaseException)]
        candidates = [c for c in candidates if id(c) not in seen]
        if not candidates:
            return error
        error = candidates[0]
        seen.add(id(error))


def _path_of(response: requests.Response) -> str:
    """The path and query of the request, for messages (never contains the key: it travels in a header)."""
    url = response.request.url or ""
    match = re.match(r"^https?://[^/]+(/.*)?$", url)
    return (match.group(1) if match and match.group(1) else url) or "/"
