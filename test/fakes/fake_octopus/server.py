"""The fake Octopus server's HTTP side: routing, auth, the push endpoints, faults, and the FakeOctopus handle."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import octodiff_reference, resources
from .bodies import BodyError, BodyReader, FilePart, boundary_of, read_multipart
from .oidc import DISCOVERY_PATH, EXPIRED_TOKEN_MESSAGE, OidcIdentity, OidcProvider
from .state import (
    ALL_PERMISSIONS,
    BAD_REQUEST_MESSAGE,
    BROKEN_ANSWERS,
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_API_KEY,
    DEFAULT_SPACE_ID,
    DUPLICATE_BUILD_INFORMATION_MESSAGE,
    MISSING_PERMISSION_MESSAGE,
    Behaviour,
    BrokenAnswer,
    Cut,
    OctopusState,
    OverwriteMode,
    PackageName,
    PackageNameError,
    Principal,
    RequestRecord,
    Space,
    StoredPackage,
    UploadRecord,
    commit_link_base,
    file_sha1,
    parse_package_file_name,
    split_package_resource_id,
    version_key,
    version_sort_key,
)

SPACE_ID = re.compile(r"^Spaces-\d+$", re.IGNORECASE)
MAX_JSON_BODY = 64 * 1024 * 1024


class HttpError(Exception):
    """An error response: raised anywhere in a handler, rendered as Octopus's JSON error body."""

    def __init__(self, status: int, message: str, errors: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors)


@dataclass
class Response:
    status: int
    payload: Any = None
    file: Path | None = None  # streamed as application/octet-stream instead of JSON
    html: str | None = None  # sent as text/html instead of JSON
    garbled: bool = False  # JSON cut in half after the request was handled (a fault: garble_next)
    headers: dict[str, str] = field(default_factory=dict)


SIGN_IN_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in - Corporate Proxy</title></head>\n"
    "<body><h1>Please sign in to continue</h1><form method=post><input name=user></form></body></html>\n"
)
"""What a captive portal or an authenticating proxy answers in place of the server: 200, but not Octopus."""


@dataclass
class Route:
    kind: str
    action: str  # name of a Handler method
    space: str | None = None  # explicit space ID, "" for the default space, None for system routes
    args: tuple[str, ...] = ()


@dataclass
class Request:
    """What an endpoint needs: the parsed request, who sent it, its space, and the body to read."""

    record: RequestRecord
    query: dict[str, str]  # names lower-cased, for case-insensitive lookups
    body: BodyReader
    principal: Principal | None = None
    space: Space | None = None
    temp_files: list[Path] = field(default_factory=list)


# (segments after the space part, method, kind, action); "*" matches any one segment.
SPACE_ROUTES: tuple[tuple[tuple[str, ...], str, str, str], ...] = (
    (("packages", "raw"), "POST", "upload", "upload_package"),
    (("packages",), "GET", "packages", "list_packages"),
    (("packages", "*"), "GET", "packages", "get_package"),
    (("packages", "*", "raw"), "GET", "packages", "download_package"),
    (("packages", "*", "*", "delta-signature"), "GET", "delta-signature", "delta_signature"),
    (("packages", "*", "*", "delta"), "POST", "delta-upload", "upload_delta"),
    (("build-information",), "POST", "build-information", "push_build_information"),
    (("build-information",), "GET", "build-information-read", "list_build_information"),
    (("build-information", "*"), "GET", "build-information-read", "get_build_information"),
)


def _match(pattern: tuple[str, ...], segments: list[str]) -> tuple[str, ...] | None:
    if len(pattern) != len(segments):
        return None
    args = []
    for expected, actual in zip(pattern, segments, strict=True):
        if expected == "*":
            args.append(actual)
        elif expected != actual.lower():
            return None
    return tuple(args)


def resolve_route(method: str, path: str) -> Route:
    """Map a path (prefix already removed) to an endpoint; paths match case-insensitively as on IIS/Kestrel."""
    segments = [unquote(s) for s in path.split("/") if s]
    if not segments or segments[0].lower() != "api":
        return Route("unknown", "not_found")
    rest = segments[1:]
    lower = [s.lower() for s in rest]
    system: list[tuple[bool, str, str, tuple[str, ...]]] = [
        (lower == [], "root", "root", ()),
        (lower == ["users", "me"], "users", "current_user", ()),
        (len(lower) == 3 and lower[0] == "users" and lower[2] == "spaces", "users", "user_spaces", tuple(rest[1:2])),
        (lower == ["spaces"], "spaces", "list_spaces", ()),
        (lower == ["spaces", "all"], "spaces", "all_spaces", ()),
        (len(lower) == 2 and lower[0] == "spaces", "spaces", "get_space", tuple(rest[1:2])),
        (len(lower) == 1 and bool(SPACE_ID.match(rest[0])), "space-root", "get_space_root", tuple(rest[:1])),
    ]
    for matched, kind, action, args in system:
        if matched:
            return Route(kind, action if method == "GET" else "method_not_allowed", None, args)
    if len(lower) > 2 and lower[0] == "spaces":
        space, scoped = rest[1], rest[2:]
    elif rest and SPACE_ID.match(rest[0]):
        space, scoped = rest[0], rest[1:]
    else:
        space, scoped = "", rest
    allowed_kind = None
    for pattern, route_method, kind, action in SPACE_ROUTES:
        args = _match(pattern, scoped)
        if args is not None:
            if route_method == method:
                return Route(kind, action, space, args)
            allowed_kind = allowed_kind or kind
    if allowed_kind:
        return Route(allowed_kind, "method_not_allowed", space)
    return Route("unknown", "not_found")


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeOctopus) -> None:
        self.fake = fake
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", fake.requested_port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: clients that reject our certificate or vanish mid-request are part of the tests."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate sends: don't wait for delayed ACKs
    server: _HttpServer

    # connection bookkeeping, so stop() can close idle keep-alive connections

    def setup(self) -> None:
        tls = self.server.fake.tls
        if tls is not None:  # the handshake runs here, in the connection's thread, not in the accept loop
            self.request.settimeout(10)
            self.request = tls.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log on FakeOctopus is the record."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # dispatch

    @property
    def state(self) -> OctopusState:
        return self.server.fake.state

    def _dispatch(self) -> None:
        fake = self.server.fake
        state = self.state
        split = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        pairs = parse_qsl(split.query, keep_blank_values=True)
        record = RequestRecord(self.command, split.path, split.path, dict(pairs), headers)
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        record.chunked = chunked
        try:
            length = 0 if chunked else int(headers.get("content-length") or 0)
        except ValueError:
            length = None
        if length is not None and length < 0:
            length = None
        body = BodyReader(self.rfile, length or 0, chunked)
        if length is None:  # the body's end is unknown: answer and close
            self.close_connection = True
            bad_length = Response(400, resources.error_body(BAD_REQUEST_MESSAGE, ["Bad Content-Length header."]))
            self._answer(record, body, "unknown", bad_length, drop=False)
            return
        request = Request(record, {k.lower(): v for k, v in pairs}, body)

        route_path = fake.strip_prefix(split.path)
        if route_path is None:
            route = Route("unknown", "not_found")
        else:
            record.route = route_path
            route = self._oidc_route(route_path) or resolve_route(self.command, route_path)
            if not self._exists_in_generation(route):
                route = Route("unknown", "not_found")
        record.kind = route.kind

        cut = state.faults.take_cut(route.kind)
        if cut is not None:
            self._cut(record, body, cut)
            return
        failure = state.faults.take_failure(route.kind)
        if failure is not None and failure.html:
            self._finish_body(body)
            self._answer(record, body, route.kind, Response(failure.status, html=SIGN_IN_PAGE), drop=False)
            return
        if failure is not None:
            response = Response(
                failure.status,
                resources.error_body(failure.message or _fault_message(failure.status, route.kind, state.behaviour)),
                headers=failure.headers,
            )
            self._finish_body(body)
            self._answer(record, body, route.kind, response, drop=False)
            return
        limit = state.behaviour.max_request_body_size
        if limit is not None and (length or body.bytes_read) > limit:  # Kestrel's MaxRequestBodySize
            self._finish_body(body)
            self.close_connection = True
            message = f"Request body too large. The max request body size is {limit} bytes."
            self._answer(record, body, route.kind, Response(413, resources.error_body(message)), drop=False)
            return
        try:
            response = self._handle(route, request)
        except HttpError as error:
            response = Response(error.status, resources.error_body(error.message, error.errors))
        except BodyError as error:
            self.close_connection = True
            response = Response(400, resources.error_body(BAD_REQUEST_MESSAGE, [f"Malformed request body: {error}"]))
        except Exception as error:  # a bug in the fake must still answer, as a 500 with details
            self.close_connection = True
            response = Response(500, resources.error_body(f"Fake Octopus failed: {error!r}", FullException=repr(error)))
        finally:
            for path in request.temp_files:
                path.unlink(missing_ok=True)
        if not self.close_connection:
            self._finish_body(body)
        if fake.path_prefix and state.behaviour.prefixed_links:
            response.payload = _prefixed_links(response.payload, fake.path_prefix)
        if response.status < 300 and response.payload is not None and state.faults.take_garble(route.kind):
            response.garbled = True
        self._answer(record, body, route.kind, response, drop=state.faults.take_drop(route.kind),
                     broken=state.faults.take_broken_answer(route.kind))

    def _answer(self, record: RequestRecord, body: BodyReader, kind: str, response: Response, *, drop: bool,
                broken: BrokenAnswer | None = None) -> None:
        """Log the request, wait out any delay, then respond or (drop) close the socket without a word.

        Logging comes first so a test sees the request as soon as the server has acted on it, even while
        the client is still waiting for a delayed answer.
        """
        record.body_size = body.bytes_read
        record.dropped = drop
        record.status = None if drop else response.status
        self.state.log(record)
        self._wait(kind)
        if drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if broken is not None and response.file is None:
            self._respond_broken(response, broken)
            return
        self._respond(response)

    def _exists_in_generation(self, route: Route) -> bool:
        """Routes an older Octopus release did not have answer 404 (see generations.py)."""
        behaviour = self.state.behaviour
        if not behaviour.spaces_enabled and (route.kind in ("spaces", "space-root") or route.space
                                             or route.action == "user_spaces"):
            return False
        if not behaviour.build_information_enabled and route.kind.startswith("build-information"):
            return False
        if not behaviour.raw_downloads and route.action == "download_package":
            return False
        return behaviour.access_tokens or route.kind not in ("openid-configuration", "token-exchange")

    def _respond_broken(self, response: Response, broken: BrokenAnswer) -> None:
        """Answer a handled request with broken framing, then close: what a faulty server or middlebox sends."""
        self.close_connection = True
        data = json.dumps(response.payload).encode("utf-8")
        head = [f"HTTP/1.1 {response.status} {self.responses.get(response.status, ('',))[0]}",
                "Content-Type: application/json; charset=utf-8", "Connection: close"]
        if broken.how == "bad-chunks":
            head.append("Transfer-Encoding: chunked")
            body = b"zz\r\n" + data + b"\r\n0\r\n\r\n"  # "zz" is no chunk size
        else:
            head.append(f"Content-Length: {len(data)}")
            if broken.how == "bad-gzip":
                head.append("Content-Encoding: gzip")
            body = data[: len(data) // 2] if broken.how == "truncate" else data
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body
        try:
            if broken.how != "trickle":
                self.wfile.write(raw)
                self.wfile.flush()
            else:  # a byte at a time: never idle long enough for a client's read timeout
                for index in range(len(raw)):
                    self.wfile.write(raw[index : index + 1])
                    self.wfile.flush()
                    if self.server.fake.stopping.wait(broken.interval):
                        break
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _oidc_route(self, path: str) -> Route | None:
        """Discovery and the token exchange live outside /api, and need no credential."""
        if path.rstrip("/").lower() == DISCOVERY_PATH:
            action = "openid_configuration" if self.command == "GET" else "method_not_allowed"
            return Route("openid-configuration", action)
        if self.server.fake.oidc.is_token_endpoint(path):
            return Route("token-exchange", "token_exchange" if self.command == "POST" else "method_not_allowed")
        return None

    def _cut(self, record: RequestRecord, body: BodyReader, cut: Cut) -> None:
        """Read part of the body, then end the connection as a network fault would: nothing is stored."""
        with contextlib.suppress(BodyError, OSError):
            while body.bytes_read < cut.after_bytes and body.read(min(1 << 16, cut.after_bytes - body.bytes_read)):
                pass
        record.body_size, record.dropped, record.status = body.bytes_read, True, None
        self.state.log(record)
        self.close_connection = True
        with contextlib.suppress(OSError):
            if cut.how == "reset":  # linger 0: close() sends RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)

    def _handle(self, route: Route, request: Request) -> Response:
        if route.action in ("openid_configuration", "token_exchange"):
            return getattr(self, f"_{route.action}")(request)
        if route.action in ("not_found", "method_not_allowed"):
            self._authenticate(request, required=False)
            if route.action == "not_found":
                raise HttpError(404, f"The resource '{request.record.path}' was not found.")
            raise HttpError(405, f"The method {self.command} is not allowed for this resource.")
        anonymous = route.action == "root" and self.state.behaviour.anonymous_root
        request.principal = self._authenticate(request, required=not anonymous)
        if route.space is not None:
            request.space = self._space(route.space)
        return getattr(self, f"_{route.action}")(request, *route.args)

    def _finish_body(self, body: BodyReader) -> None:
        try:
            body.drain()
        except (BodyError, OSError):
            self.close_connection = True

    def _wait(self, kind: str) -> None:
        delay = self.state.faults.delay_for(kind)
        if delay > 0:
            self.server.fake.stopping.wait(delay)

    def _respond(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            if response.file is not None:
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(response.file.stat().st_size))
            elif response.html is not None:
                data = response.html.encode("utf-8")
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
            else:
                data = json.dumps(response.payload, indent=2).encode("utf-8")
                if response.garbled:
                    data = data[: len(data) // 2]
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if response.file is not None:
                with response.file.open("rb") as handle:
                    shutil.copyfileobj(handle, self.wfile, 1 << 20)
            else:
                self.wfile.write(data)
        except OSError:
            self.close_connection = True

    # auth and spaces

    def _authenticate(self, request: Request, *, required: bool) -> Principal | None:
        behaviour = self.state.behaviour
        headers = request.record.headers
        credential = headers.get("x-octopus-apikey", "").strip() or request.query.get("apikey", "").strip()
        authorization = headers.get("authorization", "")
        bearer = not credential and authorization.lower().startswith("bearer ")
        if bearer:
            credential = authorization[len("bearer ") :].strip()
            if not behaviour.access_tokens:  # before access tokens, a Bearer header is no credential at all
                credential = ""
        if not credential:
            if required:
                raise HttpError(401, behaviour.missing_key_message)
            return None
        expiry = self.server.fake.oidc.expiry_of(credential)
        if expiry is not None and not bearer:  # an exchanged access token is never an API key
            raise HttpError(401, behaviour.invalid_key_message)
        if expiry is not None and time.time() >= expiry:
            raise HttpError(401, EXPIRED_TOKEN_MESSAGE)
        with self.state.lock:
            principal = self.state.principals.get(credential)
        if principal is None:
            raise HttpError(401, behaviour.invalid_key_message)
        return principal

    @staticmethod
    def _require(request: Request, permission: str) -> None:
        assert request.principal is not None
        if permission not in request.principal.permissions:
            raise HttpError(403, MISSING_PERMISSION_MESSAGE.format(permission=permission))

    def _space(self, space_ref: str) -> Space:
        if space_ref == "":
            space = self.state.default_space()
            if space is None:
                raise HttpError(404, "There is no default space: use a space-scoped URL such as /api/Spaces-1/...")
            return space
        space = self.state.find_space(space_ref)
        if space is None:
            raise HttpError(404, f"The resource '{space_ref}' was not found.")
        return space

    # OIDC

    def _openid_configuration(self, request: Request) -> Response:
        return Response(200, self.server.fake.oidc.discovery_document(self.server.fake.url))

    def _token_exchange(self, request: Request) -> Response:
        content_type = request.record.headers.get("content-type", "").lower()
        if "application/x-www-form-urlencoded" in content_type:
            data = _read_raw(request)
            fields: Any = dict(parse_qsl(data.decode("utf-8"), keep_blank_values=True))
            request.record.json = fields
        else:
            fields = _read_json(request)
        if not isinstance(fields, dict):
            return Response(400, {"error": "invalid_request", "error_description": "The body must be a JSON object."})
        status, answer = self.server.fake.oidc.exchange(fields)
        return Response(status, answer)

    # system endpoints

    def _root(self, request: Request) -> Response:
        return Response(200, resources.root_document(self.state.behaviour, self.state.default_space()))

    def _current_user(self, request: Request) -> Response:
        assert request.principal is not None
        return Response(200, resources.user_resource(request.principal))

    def _user_spaces(self, request: Request, user_id: str) -> Response:
        assert request.principal is not None
        if user_id.lower() not in ("me", request.principal.user_id.lower()):
            raise HttpError(404, f"The resource '{user_id}' was not found.")
        return Response(200, [resources.space_resource(s) for s in self._sorted_spaces()])

    def _sorted_spaces(self) -> list[Space]:
        with self.state.lock:
            return sorted(self.state.spaces.values(), key=lambda s: s.name.lower())

    def _list_spaces(self, request: Request) -> Response:
        spaces = self._sorted_spaces()
        name, partial, ids = (request.query.get(k) for k in ("name", "partialname", "ids"))
        if name:
            spaces = [s for s in spaces if s.name.lower() == name.lower()]
        if partial:
            spaces = [s for s in spaces if partial.lower() in s.name.lower()]
        if ids:
            wanted = {i.strip().lower() for i in ids.split(",") if i.strip()}
            spaces = [s for s in spaces if s.id.lower() in wanted]
        filters = {k: v for k, v in (("name", name), ("partialName", partial), ("ids", ids)) if v}
        skip, take = _paging(request)
        if self.state.behaviour.endless_spaces_paging:  # a broken server or proxy: the same full page for ever
            filler = [Space(f"Spaces-{9000 + n}", f"Filler {n:04}") for n in range(max(take - len(spaces), 0))]
            page = resources.paged("Space", spaces + filler, 0, take, "/api/spaces", filters, resources.space_resource)
            return Response(200, {**page, "TotalResults": 10**9, "NumberOfPages": 10**9 // max(take, 1)})
        return Response(
            200, resources.paged("Space", spaces, skip, take, "/api/spaces", filters, resources.space_resource)
        )

    def _all_spaces(self, request: Request) -> Response:
        partial = request.query.get("partialname", "").lower()
        return Response(200, [resources.space_resource(s) for s in self._sorted_spaces() if partial in s.name.lower()])

    def _get_space(self, request: Request, space_id: str) -> Response:
        space = self.state.find_space(space_id)
        if space is None:
            raise HttpError(404, f"The resource '{space_id}' was not found.")
        return Response(200, resources.space_resource(space))

    def _get_space_root(self, request: Request, space_id: str) -> Response:
        return Response(200, resources.space_root(self._space(space_id), self.state.behaviour))

    # packages

    def _upload_package(self, request: Request) -> Response:
        self._require(request, "BuiltInFeedPush")
        mode = _package_mode(request, self.state.behaviour)
        part = self._receive_file(request)
        name = _package_name(part)
        if part.size == 0:
            raise HttpError(400, BAD_REQUEST_MESSAGE, ["The uploaded package file is empty."])
        return self._publish(request, name, part.path, part.sha1, part.size, mode)

    def _publish(
        self, request: Request, name: PackageName, path: Path, sha1: str, size: int, mode: OverwriteMode
    ) -> Response:
        """The raw-upload rules shared by full and delta uploads: create 201, or apply the overwrite mode."""
        state = self.state
        assert request.space is not None
        with state.lock:
            existing = state.find_package(request.space.id, name.package_id, name.version)
            if existing is not None and mode is OverwriteMode.FAIL_IF_EXISTS:
                message = state.behaviour.duplicate_package_message
                raise HttpError(state.behaviour.duplicate_package_status, message, [message])
            if existing is not None and mode is OverwriteMode.IGNORE_IF_EXISTS:
                return Response(200, self._package_resource(existing, uploaded=True))
            stored = state.store_package(request.space.id, name, path, sha1, size)
            status = 201 if existing is None else state.behaviour.overwrite_package_status
            return Response(status, self._package_resource(stored, uploaded=True))

    def _package_resource(self, package: StoredPackage, *, uploaded: bool = False) -> dict[str, Any]:
        """The resource; with Hash as behaviour.package_hash says (always, only in upload answers, never)."""
        info = self.state.find_build_information(package.space_id, package.package_id, package.version)
        hashed = self.state.behaviour.package_hash == "always" or (
            uploaded and self.state.behaviour.package_hash == "upload")
        return resources.package_resource(package, info, with_hash=hashed,
                                           spaces=self.state.behaviour.spaces_enabled)

    def _receive_file(self, request: Request) -> FilePart:
        boundary = boundary_of(request.record.headers.get("content-type", ""))
        if boundary is None:
            raise HttpError(400, BAD_REQUEST_MESSAGE, ["The request must be multipart/form-data with a package file."])
        target = self.state.new_incoming_path()
        request.temp_files.append(target)
        part = read_multipart(request.body, boundary, target)
        if part is None:
            raise HttpError(400, BAD_REQUEST_MESSAGE, ["A package file must be provided."])
        request.record.upload = UploadRecord(part.field_name, part.file_name, part.content_type, part.size, part.sha1)
        return part

    def _find_package(self, request: Request, resource_id: str) -> StoredPackage:
        assert request.space is not None
        if not self.state.behaviour.bare_package_ids and not resource_id.lower().startswith("packages-"):
            raise HttpError(404, f"The resource '{resource_id}' was not found.")
        identity = split_package_resource_id(resource_id)
        package = self.state.find_package(request.space.id, *identity) if identity else None
        if package is None:
            raise HttpError(404, f"The resource '{resource_id}' was not found.")
        return package

    def _get_package(self, request: Request, resource_id: str) -> Response:
        self._require(request, "FeedView")
        return Response(200, self._package_resource(self._find_package(request, resource_id)))

    def _download_package(self, request: Request, resource_id: str) -> Response:
        self._require(request, "FeedView")
        return Response(200, file=self._find_package(request, resource_id).path)

    def _list_packages(self, request: Request) -> Response:
        self._require(request, "FeedView")
        assert request.space is not None
        space_id = request.space.id
        with self.state.lock:
            found = [p for p in self.state.packages.values() if p.space_id == space_id]
        package_id = request.query.get("nugetpackageid")
        text = request.query.get("filter")
        latest = request.query.get("latest", "").lower() == "true"
        if package_id:
            found = [p for p in found if p.package_id.lower() == package_id.lower()]
        if text:
            found = [p for p in found if text.lower() in p.package_id.lower()]
        found = _newest_first(found, lambda p: (p.package_id, p.version), latest)
        filters = {k: v for k, v in (("nuGetPackageId", package_id), ("filter", text)) if v}
        if latest:
            filters["latest"] = "true"
        skip, take = _paging(request)
        page = resources.paged(
            "PackageFromBuiltInFeed", found, skip, take, f"/api/{space_id}/packages", filters, self._package_resource
        )
        return Response(200, page)

    # delta compression

    def _delta_signature(self, request: Request, package_id: str, version: str) -> Response:
        self._require(request, "BuiltInFeedPush")
        assert request.space is not None
        if not self.state.behaviour.delta_enabled:
            raise HttpError(404, "Delta compression is not enabled on this server.")
        versions = self.state.versions_of(request.space.id, package_id)
        if not versions:
            raise HttpError(404, f"No package with the ID '{package_id}' exists in the built-in feed.")
        base = versions[0]
        signature = self.state.signature_for(base, octodiff_reference.signature)
        return Response(200, {"BaseVersion": base.version, "Signature": base64.b64encode(signature).decode("ascii")})

    def _upload_delta(self, request: Request, package_id: str, base_version: str) -> Response:
        self._require(request, "BuiltInFeedPush")
        assert request.space is not None
        if not self.state.behaviour.delta_enabled:
            raise HttpError(404, "Delta compression is not enabled on this server.")
        mode = _package_mode(request, self.state.behaviour)
        part = self._receive_file(request)
        if part.size == 0:
            raise HttpError(400, BAD_REQUEST_MESSAGE, ["A delta file must be provided (it has a length equal to 0)."])
        name = _package_name(part)
        base = self.state.find_package(request.space.id, package_id, base_version)
        if base is None:
            raise HttpError(404, f"The base package '{package_id}' version '{base_version}' was not found.")
        rebuilt = self.state.new_incoming_path()
        request.temp_files.append(rebuilt)
        try:
            with base.path.open("rb") as basis, part.path.open("rb") as delta, rebuilt.open("w+b") as out:
                octodiff_reference.apply_delta(basis, delta, out)
        except octodiff_reference.DeltaError as error:
            problem = f"The delta could not be applied to version {base.version}: {error}"
            raise HttpError(400, BAD_REQUEST_MESSAGE, [problem]) from None
        sha1, size = file_sha1(rebuilt)
        return self._publish(request, name, rebuilt, sha1, size, mode)

    # build information

    def _push_build_information(self, request: Request) -> Response:
        self._require(request, "BuildInformationPush")
        assert request.space is not None and request.principal is not None
        data = _read_json(request)
        if not isinstance(data, dict):
            raise HttpError(400, BAD_REQUEST_MESSAGE, ["The request body must be a JSON object."])
        body = {key.lower(): value for key, value in data.items()}
        mode = _build_information_mode(request, body)
        errors = []
        package_id, version = body.get("packageid"), body.get("version")
        info = body.get("octopusbuildinformation")
        if not isinstance(package_id, str) or not package_id.strip():
            errors.append("Please specify a package ID.")
        if not isinstance(version, str) or not version.strip():
            errors.append("Please specify a package version.")
        if not isinstance(info, dict):
            errors.append("Please provide the build information (OctopusBuildInformation).")
        if errors:
            raise HttpError(400, BAD_REQUEST_MESSAGE, errors)
        assert isinstance(package_id, str) and isinstance(version, str) and isinstance(info, dict)
        if mode is OverwriteMode.OVERWRITE_EXISTING:
            self._require(request, "BuildInformationAdminister")
        record = _build_information_record(request.space.id, package_id, version, info, request.principal.username)
        state = self.state
        with state.lock:
            existing = state.find_build_information(request.space.id, package_id, version)
            if existing is not None and mode is OverwriteMode.FAIL_IF_EXISTS:
                status = state.behaviour.duplicate_build_information_status
                raise HttpError(status, BAD_REQUEST_MESSAGE, [DUPLICATE_BUILD_INFORMATION_MESSAGE])
            if existing is not None and mode is OverwriteMode.IGNORE_IF_EXISTS:
                return Response(200, json.loads(json.dumps(existing)))
            saved = state.save_build_information(request.space.id, record)
            saved["Links"] = {"Self": f"/api/{request.space.id}/build-information/{saved['Id']}"}
            return Response(200, json.loads(json.dumps(saved)))

    def _list_build_information(self, request: Request) -> Response:
        assert request.space is not None
        space_id = request.space.id
        with self.state.lock:
            found = [r for (s, _, _), r in self.state.build_information.items() if s == space_id]
            found = json.loads(json.dumps(found))
        package_id = request.query.get("packageid")
        partial = request.query.get("partialpackageid")
        text = request.query.get("filter")
        latest = request.query.get("latest", "").lower() == "true"
        if package_id:
            found = [r for r in found if r["PackageId"].lower() == package_id.lower()]
        if partial:
            found = [r for r in found if partial.lower() in r["PackageId"].lower()]
        if text:
            found = [r for r in found if text.lower() in r["Version"].lower()]
        found = _newest_first(found, lambda r: (r["PackageId"], r["Version"]), latest)
        filters = {k: v for k, v in (("packageId", package_id), ("partialPackageId", partial), ("filter", text)) if v}
        if latest:
            filters["latest"] = "true"
        skip, take = _paging(request)
        base_path = f"/api/{space_id}/build-information"
        return Response(
            200, resources.paged("OctopusPackageVersionBuildInformation", found, skip, take, base_path, filters)
        )

    def _get_build_information(self, request: Request, record_id: str) -> Response:
        assert request.space is not None
        with self.state.lock:
            for (space_id, _, _), record in self.state.build_information.items():
                if space_id == request.space.id and record["Id"].lower() == record_id.lower():
                    return Response(200, json.loads(json.dumps(record)))
        raise HttpError(404, f"The resource '{record_id}' was not found.")


# --- request helpers ----------------------------------------------------------------------------------------------


def _prefixed_links(payload: Any, prefix: str) -> Any:
    """The answer with every app-relative link under `Links` given the server's virtual directory."""
    if isinstance(payload, list):
        return [_prefixed_links(item, prefix) for item in payload]
    if not isinstance(payload, dict):
        return payload
    result = {key: _prefixed_links(value, prefix) for key, value in payload.items()}
    links = payload.get("Links")
    if isinstance(links, dict):
        result["Links"] = {name: prefix + link if isinstance(link, str) and link.startswith("/api") else link
                           for name, link in links.items()}
    return result


def _fault_message(status: int, kind: str, behaviour: Behaviour) -> str:
    if status == 401:
        return behaviour.invalid_key_message
    if status == 403:
        permission = {
            "upload": "BuiltInFeedPush",
            "delta-upload": "BuiltInFeedPush",
            "delta-signature": "BuiltInFeedPush",
            "build-information": "BuildInformationPush",
        }.get(kind, "FeedView")
        return MISSING_PERMISSION_MESSAGE.format(permission=permission)
    return f"The fake Octopus server was told to fail this {kind} request with HTTP {status}."


def _paging(request: Request) -> tuple[int, int]:
    try:
        skip = int(request.query.get("skip") or 0)
        take = int(request.query.get("take") or 30)
    except ValueError:
        raise HttpError(400, BAD_REQUEST_MESSAGE, ["skip and take must be whole numbers."]) from None
    if skip < 0 or take < 0:
        raise HttpError(400, BAD_REQUEST_MESSAGE, ["skip and take must not be negative."])
    return skip, take


def _newest_first(items: list, identity: Callable[[Any], tuple[str, str]], latest_only: bool) -> list:
    """Sort by package ID, highest version first; with `latest_only` keep one item per package ID."""
    ordered = sorted(items, key=lambda item: version_sort_key(identity(item)[1]), reverse=True)
    ordered.sort(key=lambda item: identity(item)[0].lower())
    if not latest_only:
        return ordered
    seen: set[str] = set()
    kept = []
    for item in ordered:
        key = identity(item)[0].lower()
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def _parse_mode(text: str) -> OverwriteMode:
    try:
        return OverwriteMode.parse(text)
    except ValueError as error:
        raise HttpError(400, BAD_REQUEST_MESSAGE, [str(error)]) from None


def _package_mode(request: Request, behaviour: Behaviour) -> OverwriteMode:
    """`overwriteMode` wins; otherwise legacy `replace=true` means overwrite; otherwise fail on duplicates.

    Servers before 2019.7.9 know only `replace` and ignore an `overwriteMode` they never heard of.
    """
    if request.query.get("overwritemode") and behaviour.honours_overwrite_mode:
        return _parse_mode(request.query["overwritemode"])
    replace = request.query.get("replace", "").lower()
    if replace not in ("", "true", "false"):
        raise HttpError(400, BAD_REQUEST_MESSAGE, [f"'{request.query['replace']}' is not a valid value for replace."])
    return OverwriteMode.OVERWRITE_EXISTING if replace == "true" else OverwriteMode.FAIL_IF_EXISTS


def _build_information_mode(request: Request, body: dict[str, Any]) -> OverwriteMode:
    """Body `OverwriteMode`, then query `overwriteMode`, then body `Replace: true`, else FailIfExists."""
    if isinstance(body.get("overwritemode"), str) and body["overwritemode"]:
        return _parse_mode(body["overwritemode"])
    if request.query.get("overwritemode"):
        return _parse_mode(request.query["overwritemode"])
    return OverwriteMode.OVERWRITE_EXISTING if body.get("replace") is True else OverwriteMode.FAIL_IF_EXISTS


def _package_name(part: FilePart) -> PackageName:
    try:
        return parse_package_file_name(part.file_name)
    except PackageNameError as error:
        raise HttpError(400, BAD_REQUEST_MESSAGE, [str(error)]) from None


def _read_raw(request: Request) -> bytes:
    chunks = []
    while block := request.body.read():
        chunks.append(block)
        if sum(len(c) for c in chunks) > MAX_JSON_BODY:
            raise HttpError(413, "The request body is too large.")
    return b"".join(chunks)


def _read_json(request: Request) -> Any:
    chunks = []
    total = 0
    while block := request.body.read():
        total += len(block)
        if total > MAX_JSON_BODY:
            raise HttpError(413, "The request body is too large.")
        chunks.append(block)
    try:
        data = json.loads(b"".join(chunks).decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise HttpError(400, BAD_REQUEST_MESSAGE, [f"The request body is not valid JSON: {error}"]) from None
    request.record.json = data
    return data


def _text(value: Any) -> str | None:
    """Scalars as the server's string properties would bind them (numbers become text, null stays null)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _build_information_record(
    space_id: str, package_id: str, version: str, info: dict[str, Any], username: str
) -> dict[str, Any]:
    """The mapped resource the server stores: submitted fields plus the links it computes from VcsRoot."""
    fields = {key.lower(): value for key, value in info.items()}
    vcs_type, vcs_root = _text(fields.get("vcstype")), _text(fields.get("vcsroot"))
    commit_number = _text(fields.get("vcscommitnumber"))
    link_base = commit_link_base(vcs_type, vcs_root)
    commits = []
    for commit in fields.get("commits") or []:
        if not isinstance(commit, dict):
            continue
        entry = {key.lower(): value for key, value in commit.items()}
        commit_id = _text(entry.get("id"))
        commits.append(
            {
                "Id": commit_id,
                "LinkUrl": f"{link_base}/{commit_id}" if link_base and commit_id else None,
                "Comment": _text(entry.get("comment")),
            }
        )
    return {
        "Id": None,
        "SpaceId": space_id,
        "PackageId": package_id,
        "Version": version,
        "BuildEnvironment": _text(fields.get("buildenvironment")),
        "BuildNumber": _text(fields.get("buildnumber")),
        "BuildUrl": _text(fields.get("buildurl")),
        "Branch": _text(fields.get("branch")),
        "VcsType": vcs_type,
        "VcsRoot": vcs_root,
        "VcsCommitNumber": commit_number,
        "VcsCommitUrl": f"{link_base}/{commit_number}" if link_base and commit_number else None,
        "IssueTrackerName": None,
        "WorkItems": [],
        "Commits": commits,
        "IncompleteDataWarning": None,
        "Created": None,
        "LastModifiedOn": None,
        "LastModifiedBy": username,
        "Links": {},
    }


# --- the handle tests use -----------------------------------------------------------------------------------------


class FakeOctopus:
    """A running fake Octopus server; see the package docstring for the full API."""

    def __init__(
        self,
        *,
        path_prefix: str = "",
        storage_root: Path | str | None = None,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.tls = tls  # a server-side context: the fake then speaks HTTPS only
        prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
        self.path_prefix = prefix
        self.requested_port = port
        self._storage = Path(tempfile.mkdtemp(prefix="fake-octopus-", dir=storage_root))
        self.state = OctopusState(self._storage)
        self.api_key = DEFAULT_API_KEY
        self.access_token = DEFAULT_ACCESS_TOKEN
        self.space_id = DEFAULT_SPACE_ID
        self.oidc = OidcProvider(self.state.principals, self.state.lock)
        self.stopping = threading.Event()
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> FakeOctopus:
        if self._server is None:
            self.stopping.clear()
            self._server = _HttpServer(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="fake-octopus", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections, wait for handlers, and delete the stored files."""
        server, self._server = self._server, None
        if server is not None:
            self.stopping.set()
            server.shutdown()
            with server.connections_lock:
                connections = list(server.open_connections)
            for connection in connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
        shutil.rmtree(self._storage, ignore_errors=True)

    def __enter__(self) -> FakeOctopus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake Octopus server is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The server URL a client is configured with, including any path prefix (no trailing slash)."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self.path_prefix}"

    @property
    def behaviour(self) -> Behaviour:
        """Version-dependent switches (duplicate statuses, messages, delta support); see state.Behaviour."""
        return self.state.behaviour

    def strip_prefix(self, path: str) -> str | None:
        if not self.path_prefix:
            return path
        if path.lower() == self.path_prefix.lower() or path.lower().startswith(self.path_prefix.lower() + "/"):
            return path[len(self.path_prefix) :] or "/"
        return None

    # setup

    def add_space(self, name: str, *, space_id: str | None = None, is_default: bool = False) -> Space:
        return self.state.add_space(name, space_id=space_id, is_default=is_default)

    def set_default_space(self, space_id: str | None) -> None:
        """Make another space the default, or None for a server without a default space."""
        with self.state.lock:
            for space in self.state.spaces.values():
                space.is_default = space_id is not None and space.id.lower() == space_id.lower()

    def add_api_key(
        self,
        *,
        without: Iterable[str] = (),
        permissions: Iterable[str] | None = None,
        username: str | None = None,
        key: str | None = None,
    ) -> str:
        """A new valid key (`key`, or a made-up one) with all permissions minus `without` (or exactly `permissions`)."""
        granted = frozenset(permissions) if permissions is not None else ALL_PERMISSIONS - frozenset(without)
        return self.state.add_principal(granted, username, key)

    def add_service_account(self, issuer: str, public_key: Any, subject: str, *, audience: str | None = None,
                            permissions: Iterable[str] | None = None) -> str:
        """A service account trusting OIDC tokens of `issuer` whose sub matches `subject`; returns its ID."""
        identity = OidcIdentity(issuer, public_key, subject, audience)
        granted = frozenset(permissions) if permissions is not None else ALL_PERMISSIONS
        return self.oidc.add_service_account(identity, permissions=granted)

    def add_package(self, file_name: str, content: bytes | Path, *, space_id: str = DEFAULT_SPACE_ID) -> StoredPackage:
        """Put `MyApp.1.0.0.zip` into a space's feed directly, as if pushed earlier."""
        return self.state.seed_package(space_id, file_name, content)

    # reading state

    def packages(self, space_id: str | None = None) -> list[StoredPackage]:
        with self.state.lock:
            return [p for p in self.state.packages.values() if space_id is None or p.space_id == space_id]

    def package(self, package_id: str, version: str, *, space_id: str = DEFAULT_SPACE_ID) -> StoredPackage | None:
        return self.state.find_package(space_id, package_id, version)

    def package_bytes(self, package_id: str, version: str, *, space_id: str = DEFAULT_SPACE_ID) -> bytes:
        package = self.package(package_id, version, space_id=space_id)
        if package is None:
            raise KeyError(f"no package {package_id} {version} in {space_id}")
        return package.read_bytes()

    def build_information(self, space_id: str | None = None) -> list[dict[str, Any]]:
        with self.state.lock:
            found = [r for (s, _, _), r in self.state.build_information.items() if space_id is None or s == space_id]
            return json.loads(json.dumps(found))

    def build_information_for(
        self, package_id: str, version: str, *, space_id: str = DEFAULT_SPACE_ID
    ) -> dict[str, Any] | None:
        record = self.state.find_build_information(space_id, package_id, version)
        return json.loads(json.dumps(record)) if record is not None else None

    def latest_build_information(self, package_id: str, *, space_id: str = DEFAULT_SPACE_ID) -> dict[str, Any] | None:
        """The record with the highest version for a package ID, or None."""
        records = [r for r in self.build_information(space_id) if r["PackageId"].lower() == package_id.lower()]
        return max(records, key=lambda r: version_sort_key(r["Version"]), default=None)

    @property
    def requests(self) -> list[RequestRecord]:
        with self.state.lock:
            return list(self.state.requests)

    def requests_of(self, kind: str | None = None, method: str | None = None) -> list[RequestRecord]:
        """Logged requests of one route kind (see ROUTE_KINDS) and/or HTTP method, oldest first."""
        return [r for r in self.requests if (kind is None or r.kind == kind) and (method is None or r.method == method)]

    def stored_copies(self, package_id: str, version: str, *, space_id: str = DEFAULT_SPACE_ID) -> list[str]:
        """The SHA-1 of every file HTTP requests stored under this ID and version, oldest first (seeds excluded)."""
        key = (space_id, package_id.lower(), version_key(version))
        with self.state.lock:
            return [sha1 for *where, sha1 in self.state.stores if tuple(where) == key]

    def clear_requests(self) -> None:
        with self.state.lock:
            self.state.requests.clear()

    # faults

    def fail_next(
        self, kind: str = "*", *, status: int = 503, times: int | None = 1, message: str | None = None
    ) -> None:
        """Answer the next `times` requests of `kind` with `status` (None: until clear_faults) without handling them."""
        self.state.faults.fail_next(kind, status, times, message)

    def set_delay(self, kind: str, seconds: float) -> None:
        """Wait `seconds` before every response of `kind` ("*" for all), after the request was handled."""
        self.state.faults.set_delay(kind, seconds)

    def drop_next(self, kind: str = "upload", *, times: int = 1) -> None:
        """Handle the next `times` requests of `kind` fully (a package is stored), then close without answering."""
        self.state.faults.drop_next(kind, times)

    def cut_next(self, kind: str = "upload", *, after_bytes: int = 1024, how: str = "reset", times: int = 1) -> None:
        """Read `after_bytes` of the next request body, then reset (RST) or close (FIN) the connection unhandled."""
        if how not in ("reset", "close"):
            raise ValueError("how is 'reset' or 'close'")
        self.state.faults.cut_next(kind, Cut(after_bytes, how), times)

    def answer_html_next(self, kind: str = "upload", *, status: int = 200, times: int | None = 1) -> None:
        """Answer the next `times` requests of `kind` with a sign-in web page, unhandled (nothing is stored)."""
        self.state.faults.fail_next(kind, status, times, None, html=True)

    def garble_next(self, kind: str = "upload", *, times: int = 1) -> None:
        """Handle the next `times` requests of `kind` fully (store), then answer 2xx with JSON cut in half."""
        self.state.faults.garble_next(kind, times)

    def rate_limit_next(self, kind: str = "*", *, retry_after: str | None = "1", times: int | None = 1) -> None:
        """Answer the next `times` requests of `kind` with 429 and `Retry-After: retry_after` (None: no header),
        unhandled, as Octopus 2026.1's rate limiting does."""
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        self.state.faults.fail_next(kind, 429, times, "Too many requests. Please try again later.", headers=headers)

    def break_answer_next(self, kind: str = "upload", *, how: str = "truncate", interval: float = 0.05,
                          times: int = 1) -> None:
        """Handle the next `times` requests of `kind` fully (a package is stored), then answer with broken framing:
        how="truncate" (half the body, then close), "bad-gzip" (Content-Encoding: gzip on plain JSON),
        "bad-chunks" (a chunk size that is not hex) or "trickle" (the answer a byte every `interval` seconds)."""
        if how not in BROKEN_ANSWERS:
            raise ValueError(f"how is one of {BROKEN_ANSWERS}")
        self.state.faults.break_answer_next(kind, BrokenAnswer(how, interval), times)

    def clear_faults(self) -> None:
        self.state.faults.clear()
