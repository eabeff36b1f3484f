"""A thin HTTP client for the Octopus REST API: one session, the key header, TLS, timeouts, retries, error text."""

import hashlib
import http.client
import json
import logging
import platform
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from octopus_pack.errors import OctopusApiError, PipeError, TransferInterrupted
from octopus_pack.masking import mask
from octopus_pack.metadata import PIPE_NAME, pipe_version
from octopus_pack.octopus.answers import error_text, is_octopus_error, parsed_json
from octopus_pack.octopus.oidc import IssuedToken, RenewingAccessToken, exchange_step_token, unverified_claims, utc_time
from octopus_pack.octopus.settings import AccessToken, ApiKey, OctopusSettings, OidcExchange, Proxy

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({500, 502, 503, 504})
"""Answers worth asking again: the server is starting, overloaded, or a proxy in front of it hiccuped."""
RATE_LIMITED = 429
"""Octopus 2026 rate-limits with 429 and Retry-After (seconds or an HTTP date): waited out, then asked again."""
MAX_WAIT_SECONDS = 30.0
"""No single pause between two attempts is longer. A Retry-After beyond it ends the run with a line saying so:
a pipeline step should not sit idle for an hour on a server's say-so."""
CONNECT_ATTEMPTS = 2
"""A refused or unresolvable address is tried once more, then reported: a typo fails in about a second."""
_NOT_JSON = object()


def user_agent(in_pipeline: bool) -> str:
    """`octopus-pack/1.2.3 (Linux; x86_64)`, plus ` BitBucket` in a pipeline, as Octopus.Client reports its CI."""
    agent = f"{PIPE_NAME}/{pipe_version()} ({platform.system() or 'unknown'}; {platform.machine() or 'unknown'})"
    return agent + " BitBucket" if in_pipeline else agent


class OctopusClient:
    """Every request to one Octopus server goes through here, so headers, TLS, timeouts and retries are set once."""

    sleep: Callable[[float], None] = staticmethod(time.sleep)
    """How the pause between attempts is waited out; tests replace it with one that records the delays."""

    def __init__(self, settings: OctopusSettings, agent: str) -> None:
        self.server = settings.server
        self._credential = settings.credential
        self._exchanged: RenewingAccessToken | None = None
        if isinstance(self._credential, OidcExchange):
            self._exchanged = _renewing_token(self, self._credential, settings.token_refresh_margin)
        self._timeout = (settings.connect_timeout, settings.timeout)
        self._deadline = settings.timeout
        self._attempts = settings.retries + 1
        self._backoff_factor = settings.backoff_factor
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
        # urllib3 retries nothing: our own loop (_repeated) retries GETs and the OIDC exchange and says so in our
        # words; a POST is retried by its caller, which first asks the server what it kept (post_retry.py).
        adapter = _WatchedAdapter(max_retries=0)
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
            response = self._repeated("GET", self.url(path), authenticated=True, params=params)
        except TransferInterrupted as error:
            raise PipeError(self.unreachable(error)) from None
        self.raise_for_status(response)
        return self._json(response)

    def unreachable(self, error: TransferInterrupted, purpose: str = "") -> str:
        """The closing line for a request that never got an answer, with the likely fix."""
        return f"Cannot reach OCTOPUS_SERVER {self.server}{purpose}: {error}"

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
        """POST a JSON document once and hand back the answer, whatever its status."""
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
        """POST one file once as multipart field `file`, streamed from disk with a known Content-Length.

        The per-attempt deadline starts when the last byte is handed over: the upload's own duration is
        bounded by its progress (each send waits at most OCTOPUS_TIMEOUT), the answer by the deadline.
        """
        encoder = MultipartEncoder(fields={"file": (file_name, stream, "application/octet-stream")})
        watchdog = _Watchdog(self._deadline, armed=False)

        def sent(monitor: MultipartEncoderMonitor) -> None:
            if on_progress:
                on_progress(monitor.bytes_read)
            if monitor.bytes_read >= monitor.len:
                watchdog.arm()

        monitor = MultipartEncoderMonitor(encoder, sent)
        headers = {"Content-Type": monitor.content_type, "Content-Length": str(monitor.len)}
        return self._send("POST", path, params=params, data=monitor, headers=headers, watchdog=watchdog)

    def raise_for_status(self, response: requests.Response) -> None:
        """Turn an error answer into OctopusApiError carrying the server's own explanation."""
        if response.status_code >= 400:
            raise OctopusApiError(
                response.status_code, response.request.method or "?", _path_of(response), error_text(response)
            )

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
        """One authenticated attempt (a POST: its caller decides about retries)."""
        kwargs["headers"] = {**self._auth_headers(), **(kwargs.get("headers") or {})}
        response = self._attempt(method, self.url(path), **kwargs)
        self._check_token(response, method, path)
        return response

    def _check_token(self, response: requests.Response, method: str, path: str) -> None:
        if response.status_code == 401 and not isinstance(self._credential, ApiKey):
            raise token_rejected(self._credential, self._exchanged, self.server, method, path,
                                 error_text(response))

    def send_repeatable(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """An unauthenticated request that is safe to repeat (the OIDC discovery and exchange), with retries."""
        return self._repeated(method, url, authenticated=False, **kwargs)

    def _repeated(self, method: str, url: str, *, authenticated: bool, **kwargs: Any) -> requests.Response:
        """A request that is safe to repeat, tried again after drops, 5xx and 429, in our own words.

        Bounded like the POSTs: retries + 1 attempts (two for a refused or unresolvable address), pauses of
        backoff_factor * 2**(n-1) s or the server's Retry-After, never longer than MAX_WAIT_SECONDS. The last
        5xx answer is handed back for the caller to explain; a 429 that outlasts the attempts is a PipeError.
        """
        path = _path_and_query(url, self.server)
        extra_headers = kwargs.pop("headers", None) or {}
        attempt = 1
        while True:
            headers = {**(self._auth_headers() if authenticated else {}), **extra_headers}
            limit = self._attempts
            answer: requests.Response | None = None
            try:
                answer = self._attempt(method, url, headers=headers, **kwargs)
            except TransferInterrupted as error:
                limit = min(limit, CONNECT_ATTEMPTS) if error.before_sending else limit
                if attempt >= limit:
                    raise
                problem = f"the connection failed ({error})"
            else:
                if authenticated:
                    self._check_token(answer, method, path)
                status = answer.status_code
                if status not in RETRIED_STATUSES and status != RATE_LIMITED:
                    return answer
                if attempt >= limit:
                    if status == RATE_LIMITED:
                        raise PipeError(f"OCTOPUS_SERVER {self.server} is still rate-limiting requests (HTTP 429 to "
                                        f"{method} {path}) after {limit} attempts: run the step again later, or ask "
                                        "the Octopus administrator about the rate limit for this account.")
                    return answer
                problem = f"HTTP {status} ({error_text(answer)})"
            delay = self.pause_before_retry(answer, attempt, f"asking again for {method} {path}")
            log.warning(f"{method} {path} failed: {problem}. Trying again in {delay:g} s "
                        f"(attempt {attempt + 1} of {limit}).")
            self.sleep(delay)
            attempt += 1

    def pause_before_retry(self, response: requests.Response | None, attempt: int, before: str) -> float:
        """Seconds to wait after failed attempt `attempt`: the server's Retry-After for a 429, else the backoff.

        A Retry-After longer than MAX_WAIT_SECONDS is not slept through: PipeError, naming what it asked.
        """
        if response is not None and response.status_code == RATE_LIMITED:
            asked = retry_after_seconds(response.headers.get("Retry-After"))
            if asked is not None and asked > MAX_WAIT_SECONDS:
                raise PipeError(
                    f"OCTOPUS_SERVER {self.server} is rate-limiting requests and asks to wait {asked:,.0f} s before "
                    f"{before} "
                    f"(HTTP 429, Retry-After): the pipe waits at most {MAX_WAIT_SECONDS:g} s between attempts, so it "
                    "stops here. Run the step again later, or ask the Octopus administrator about the rate limit."
                )
            if asked is not None:
                return asked
        return min(self._backoff_factor * 2 ** (attempt - 1), MAX_WAIT_SECONDS)

    def _attempt(self, method: str, url: str, watchdog: "_Watchdog | None" = None, **kwargs: Any) -> requests.Response:
        """One request, bounded by a total deadline; TransferInterrupted when no complete answer came."""
        path = _path_and_query(url, self.server)
        watchdog = watchdog or _Watchdog(self._deadline, armed=True)
        started = time.monotonic()
        try:
            with watchdog:
                # Redirects are not followed: requests would carry the credential's header to any host.
                response = self._session.request(
                    method, url, timeout=self._timeout, verify=self._verify, allow_redirects=False, **kwargs
                )
        except requests.RequestException as error:
            if watchdog.fired:
                raise TransferInterrupted(self._timed_out_text, timed_out=True) from None
            raise self._interruption(error) from None
        log.debug(f"{method} {path} -> {response.status_code} ({time.monotonic() - started:.2f} s)")
        if response.is_redirect:
            target = response.headers.get("Location", "")
            raise PipeError(
                f"OCTOPUS_SERVER {self.server} redirects {path} to {self.without_secret(target)}: set OCTOPUS_SERVER "
                f"to the address it redirects to (the {self._credential_noun} is not sent after a redirect)."
            )
        self._check_proxy_answer(response)
        return response

    def _interruption(self, error: requests.RequestException) -> Exception:
        """What a failed request means: a PipeError when retrying cannot help, else TransferInterrupted."""
        if not isinstance(error, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError
                          | requests.exceptions.ContentDecodingError):
            return error  # our own bug (an invalid URL, a bad argument): "Unexpected error"
        cause = _root_cause(error)
        parts = urlsplit(self.server)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return PipeError(
                f"The TLS certificate of OCTOPUS_SERVER {self.server} could not be verified "
                f"({self.without_secret(connection_problem(error))}): set OCTOPUS_CA_BUNDLE to the PEM file of "
                "the CA that signed it (OCTOPUS_INSECURE_SKIP_TLS_VERIFY: 'true' only as a last resort)."
            )
        if isinstance(cause, ssl.SSLError) and _PLAIN_HTTP_ANSWER.search(str(cause)):
            return PipeError(
                f"OCTOPUS_SERVER {self.server} does not speak TLS on port {parts.port or 443}: the server speaks "
                f"plain HTTP there, so use http://{self.server.split('://', 1)[1]}, or the port Octopus serves "
                "HTTPS on."
            )
        tunnel = _TUNNEL_REFUSED.search(str(cause))
        if tunnel and self.proxy is not None:
            return proxy_refused(self.proxy, int(tunnel.group(1)), tunnel.group(2).strip(), parts.netloc)
        timed_out = isinstance(error, requests.Timeout) and not isinstance(error, requests.ConnectTimeout)
        problem = self._timed_out_text if timed_out else connection_problem(error)
        before_sending = isinstance(cause, urllib3.exceptions.NewConnectionError | socket.gaierror) or isinstance(
            error, requests.ConnectTimeout)
        if isinstance(error, requests.exceptions.ProxyError) and self.proxy is not None:
            problem = f"through the proxy {self.proxy}: {problem}"
            if before_sending:
                problem += f"; check {self.proxy.variable}"
        elif isinstance(cause, urllib3.exceptions.NameResolutionError | socket.gaierror):
            problem = (f"the host name {parts.hostname} could not be resolved: check the spelling of OCTOPUS_SERVER, "
                       "and that the build can reach that network")
        elif isinstance(cause, urllib3.exceptions.NewConnectionError) and isinstance(
                _errno_cause(cause), ConnectionRefusedError):
            problem = (f"nothing accepts connections on port {parts.port or (443 if parts.scheme == 'https' else 80)} "
                       f"of {parts.hostname} (connection refused): check the port in OCTOPUS_SERVER and that "
                       "Octopus is running")
        return TransferInterrupted(self.without_secret(problem), timed_out, before_sending=before_sending)

    @property
    def _timed_out_text(self) -> str:
        """Both ends of an attempt, the read timeout and the watchdog's deadline, are OCTOPUS_TIMEOUT."""
        return f"no answer before the timeout; OCTOPUS_TIMEOUT is {self._deadline:g} s"

    def _check_proxy_answer(self, response: requests.Response) -> None:
        """407 always comes from a proxy, and a proxy's 403 page is not Octopus's: name the proxy, not the server."""
        status = response.status_code
        # Through a CONNECT tunnel (https://) answers come from Octopus itself: the proxy refuses at CONNECT time.
        proxied_plainly = self.proxy is not None and self.server.startswith("http://")
        if status == 407 or (status == 403 and proxied_plainly and not is_octopus_error(response)):
            if self.proxy is None:
                raise PipeError(
                    f"A proxy between the pipe and OCTOPUS_SERVER {self.server} asks for credentials (HTTP 407): set "
                    f"{'HTTPS_PROXY' if self.server.startswith('https') else 'HTTP_PROXY'} to that proxy, with "
                    "user:password@ if it needs them."
                )
            raise proxy_refused(self.proxy, status, response.reason or "", urlsplit(self.server).netloc)

    @staticmethod
    def _json(response: requests.Response) -> Any:
        body = parsed_json(response, otherwise=_NOT_JSON)
        if body is _NOT_JSON:
            raise OctopusApiError(
                response.status_code, response.request.method or "?", _path_of(response),
                f"expected JSON but got {response.headers.get('Content-Type') or 'no content type'}",
            )
        return body


def _renewing_token(client: OctopusClient, credential: OidcExchange, margin: float) -> RenewingAccessToken:
    """The exchanged token of `credential`, fetched with the client's TLS and timeouts but no credential header."""

    def exchange() -> IssuedToken:
        try:
            return exchange_step_token(client.send_repeatable, client.server, credential.service_account_id,
                                       credential.step_token.reveal())
        except TransferInterrupted as error:
            raise PipeError(client.unreachable(error, " for the OIDC token exchange")) from None

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
def proxy_refused(proxy: Proxy, status: int, reason: str, target: str) -> PipeError:
    """A proxy's refusal (407, 403, a refused CONNECT), naming the proxy variable rather than the server."""
    if status == 407:
        fix = (f"check the user name and password in {proxy.variable}" if urlsplit(proxy.url).username else
               f"give the proxy's user name and password in {proxy.variable}, as http://user:password@host:port")
    else:
        fix = (f"ask the proxy's administrators to allow {target}, or add its host to NO_PROXY if the build can "
               "reach it directly")
    said = f"HTTP {status} {reason}".strip()
    return PipeError(f"The proxy {proxy} refused the connection to {target} ({said}): {fix}.")


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now (RFC 9110: a number of seconds or an HTTP date); None when unreadable."""
    text = (value or "").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


_PLAIN_HTTP_ANSWER = re.compile(r"WRONG_VERSION_NUMBER|wrong version number|record layer failure|HTTP_REQUEST",
                                re.IGNORECASE)
"""What OpenSSL says when the other end answers a TLS hello in plain HTTP."""
_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3})(.*)")
"""http.client's error when a proxy answers CONNECT with anything but 200."""

_watched = threading.local()


class _Watchdog:
    """Ends one attempt at its deadline by shutting its sockets down.

    requests' timeout bounds each socket operation, so a server trickling a byte at a time would hold an
    attempt for ever; this makes OCTOPUS_TIMEOUT bound the whole attempt (from the last byte sent).
    """

    def __init__(self, seconds: float, armed: bool) -> None:
        self.seconds = seconds
        self.fired = False
        self._arm_on_entry = armed
        self._connections: list[Any] = []
        self._timer: threading.Timer | None = None
        self._done = False
        self._lock = threading.Lock()

    def __enter__(self) -> "_Watchdog":
        _watched.current = self
        if self._arm_on_entry:
            self.arm()
        return self

    def __exit__(self, *exc: object) -> None:
        _watched.current = None
        with self._lock:
            self._done = True
            timer = self._timer
        if timer is not None:
            timer.cancel()
            timer.join()

    def watch(self, connection: Any) -> None:
        with self._lock:
            self._connections.append(connection)

    def arm(self) -> None:
        """Start the clock (once)."""
        with self._lock:
            if self._timer is None and not self._done:
                self._timer = threading.Timer(self.seconds, self._fire)
                self._timer.daemon = True
                self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            for connection in self._connections:
                sock = getattr(connection, "sock", None)
                while sock is not None and not isinstance(sock, socket.socket):
                    sock = getattr(sock, "socket", None)  # TLS inside a TLS proxy tunnel (urllib3's SSLTransport)
                if sock is not None:
                    with suppress(OSError):  # the plain socket's shutdown: also ends a TLS read mid-record
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedPool:
    """A connection pool that tells the current attempt's watchdog which connection it hands out."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        watchdog = getattr(_watched, "current", None)
        if watchdog is not None:
            watchdog.watch(connection)
        return connection


class _WatchedHTTPPool(_WatchedPool, HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_WatchedPool, HTTPSConnectionPool):
    pass


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose connections, direct or through a proxy, the current attempt's watchdog can end."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


def _errno_cause(error: BaseException) -> BaseException | None:
    """The OSError urllib3 wrapped (it raises NewConnectionError from it)."""
    return error.__cause__ or error.__context__


def connection_problem(error: BaseException) -> str:
    """The root cause of a requests failure ('[Errno 111] Connection refused'), without urllib3's wrapping."""
    reason = _root_cause(error)
    if isinstance(error, requests.exceptions.ContentDecodingError):
        return f"the answer says Content-Encoding {_encoding_of(error)} but its body is not"
    if isinstance(reason, urllib3.exceptions.InvalidChunkLength):
        return "the answer's chunked framing was broken"
    if isinstance(reason, urllib3.exceptions.IncompleteRead | http.client.IncompleteRead):
        return "the answer was cut short"
    if isinstance(reason, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(reason, ConnectionResetError | BrokenPipeError):
        return "the connection was reset by the server or something between"
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


def _encoding_of(error: requests.RequestException) -> str:
    response = getattr(error, "response", None)
    return (response.headers.get("Content-Encoding") if response is not None else None) or "gzip"


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
