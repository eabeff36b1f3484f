"""A thin HTTP client for the Octopus REST API: one session, the key header, TLS, timeouts, retries, error text."""

import json
import logging
import platform
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor
from urllib3.util.retry import Retry

from octopus_pack.config.octopus import OctopusSettings
from octopus_pack.errors import OctopusApiError, PipeError, TransferInterrupted
from octopus_pack.metadata import PIPE_NAME, pipe_version

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({500, 502, 503, 504})
"""Answers worth asking again: the server is starting, overloaded, or a proxy in front of it hiccuped."""


def user_agent(in_pipeline: bool) -> str:
    """`octopus-pack/1.2.3 (Linux; x86_64)`, plus ` BitBucket` in a pipeline, as Octopus.Client reports its CI."""
    agent = f"{PIPE_NAME}/{pipe_version()} ({platform.system() or 'unknown'}; {platform.machine() or 'unknown'})"
    return agent + " BitBucket" if in_pipeline else agent


class OctopusClient:
    """Every request to one Octopus server goes through here, so headers, TLS and timeouts are set once."""

    def __init__(self, settings: OctopusSettings, agent: str) -> None:
        self.server = settings.server
        self._secret = settings.api_key.reveal()
        self._timeout = (settings.connect_timeout, settings.timeout)
        self._session = requests.Session()
        self._session.headers.update(
            {"X-Octopus-ApiKey": self._secret, "Accept": "application/json", "User-Agent": agent}
        )
        # Passed with every request: requests lets REQUESTS_CA_BUNDLE override a session-wide setting.
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
        retry = Retry(
            total=None, connect=min(1, settings.retries), read=settings.retries, status=settings.retries, other=0,
            allowed_methods=frozenset({"GET"}), status_forcelist=RETRIED_STATUSES,
            backoff_factor=settings.backoff_factor, raise_on_status=False, respect_retry_after_header=False,
        )  # fmt: skip
        adapter = HTTPAdapter(max_retries=retry)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __enter__(self) -> "OctopusClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.close()

    def url(self, path: str) -> str:
        """Join an API path to the base URL, keeping any sub-path the server is installed under."""
        return self.server + path

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a resource; OctopusApiError for an error answer, PipeError when the server cannot be reached."""
        try:
            response = self._send("GET", path, params=params)
        except TransferInterrupted as error:
            raise PipeError(f"cannot reach OCTOPUS_SERVER {self.server}: {error}") from None
        self.raise_for_status(response)
        return self._json(response)

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
        """The text with the API key masked, for anything the server (or a library) might echo back."""
        return text.replace(self._secret, "<hidden>")

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        started = time.monotonic()
        try:
            # Redirects are not followed: requests would carry the X-Octopus-ApiKey header to any host.
            response = self._session.request(
                method, self.url(path), timeout=self._timeout, verify=self._verify, allow_redirects=False, **kwargs
            )
        except requests.exceptions.SSLError as error:
            raise PipeError(
                f"the TLS certificate of OCTOPUS_SERVER {self.server} could not be verified "
                f"({self.without_secret(connection_problem(error))}): set OCTOPUS_CA_BUNDLE to the PEM file of "
                "the CA that signed it (OCTOPUS_INSECURE_SKIP_TLS_VERIFY: 'true' only as a last resort)."
            ) from None
        except (requests.ConnectionError, requests.Timeout) as error:
            timed_out = isinstance(error, requests.Timeout) and not isinstance(error, requests.ConnectTimeout)
            raise TransferInterrupted(self.without_secret(connection_problem(error)), timed_out) from None
        log.debug(f"{method} {path} -> {response.status_code} ({time.monotonic() - started:.2f} s)")
        if response.is_redirect:
            target = response.headers.get("Location", "")
            raise PipeError(
                f"OCTOPUS_SERVER {self.server} redirects {path} to {self.without_secret(target)}: set OCTOPUS_SERVER "
                "to the address it redirects to (the API key is not sent after a redirect)."
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
