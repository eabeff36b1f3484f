"""What the fake Octopus server remembers: spaces, API keys, packages on disk, build information, requests, faults."""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

DEFAULT_API_KEY = "API-FAKEOCTOPUSTEST1"
"""Obviously fake, matches the Go SDK's `^API-[A-Z0-9]+$`, and is short enough never to look like a real key."""
DEFAULT_ACCESS_TOKEN = "fake-octopus-access-token"
DEFAULT_SPACE_ID = "Spaces-1"
BUILTIN_FEED_ID = "feeds-builtin"

ALL_PERMISSIONS = frozenset(
    {"BuiltInFeedPush", "BuiltInFeedAdminister", "BuildInformationPush", "BuildInformationAdminister", "FeedView"}
)

ROUTE_KINDS = (
    "root",  # GET /api
    "space-root",  # GET /api/{spaceId}
    "users",  # GET /api/users/me, /api/users/{id}/spaces
    "spaces",  # GET /api/spaces..., /api/spaces/all, /api/spaces/{id}
    "upload",  # POST .../packages/raw
    "packages",  # GET .../packages, .../packages/{id}, .../packages/{id}/raw
    "delta-signature",  # GET .../packages/{packageId}/{version}/delta-signature
    "delta-upload",  # POST .../packages/{packageId}/{baseVersion}/delta
    "build-information",  # POST .../build-information
    "build-information-read",  # GET .../build-information, .../build-information/{id}
    "openid-configuration",  # GET /.well-known/openid-configuration
    "token-exchange",  # POST the discovered token endpoint (/token/v1)
    "unknown",  # anything no route matched
)
"""Names used for per-route faults (`fail_next`, `set_delay`, `drop_next`) and in `RequestRecord.kind`."""

MISSING_KEY_MESSAGE = "You must be logged in to perform this action. Please provide a valid API key or log in again."
INVALID_KEY_MESSAGE = (
    "The API key you provided was not valid. Please double-check your API key and try again. "
    "For instructions on finding your API key, please visit: https://oc.to/ApiKey"
)
MISSING_PERMISSION_MESSAGE = (
    "You do not have permission to perform this action. Please contact your Octopus administrator. "
    "Missing permission: {permission}"
)
DUPLICATE_PACKAGE_MESSAGE = (
    "A package with the same name and version already exists. "
    "To proceed anyway, specify an overwriteMode of OverwriteExisting or IgnoreIfExists."
)
DUPLICATE_BUILD_INFORMATION_MESSAGE = "Metadata for the specified Package ID and version already exists."
BAD_REQUEST_MESSAGE = "There was a problem with your request."
UNSUPPORTED_FORMAT_MESSAGE = "The uploaded file isn't in a supported package format."


class OverwriteMode(StrEnum):
    """What the server does when a package or build information record already exists."""

    FAIL_IF_EXISTS = "FailIfExists"
    OVERWRITE_EXISTING = "OverwriteExisting"
    IGNORE_IF_EXISTS = "IgnoreIfExists"

    @classmethod
    def parse(cls, text: str) -> OverwriteMode:
        """Parse an enum name case-insensitively, as the server's model binder does; ValueError otherwise."""
        for mode in cls:
            if mode.value.lower() == text.strip().lower():
                return mode
        choices = ", ".join(mode.value for mode in cls)
        raise ValueError(f"'{text}' is not a valid overwrite mode; use one of {choices}.")


# --- Package file names and versions ------------------------------------------------------------------------------

PACKAGE_EXTENSIONS = (
    ".tar.gz", ".tar.bz2", ".tar.bz", ".tar.z", ".tgz", ".tbz", ".tar",
    ".zip", ".nupkg", ".jar", ".war", ".ear", ".rar",
)  # fmt: skip
"""Longest first, so `.tar.gz` wins over `.gz`-less `.tar` matching; compared case-insensitively."""

PACKAGE_IDENTITY = re.compile(
    r"^(?P<id>\w+(?:[_.-]\w+)*?)\."
    r"(?P<version>\d+(?:\.\d+){0,3}(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)$"
)
"""The server's PackageIdentity rule (lazy ID, so `My.App.1.0.0` splits as `My.App` + `1.0.0`)."""


class PackageNameError(ValueError):
    """A file name the server would refuse; the message is the `Errors[]` entry."""


@dataclass(frozen=True)
class PackageName:
    package_id: str
    version: str
    extension: str  # as sent, e.g. ".zip" or ".tar.gz"


def parse_package_file_name(file_name: str) -> PackageName:
    """Split `MyApp.1.0.0.tar.gz` (any directory part dropped, as browsers may send one) into ID, version, extension."""
    base = re.split(r"[\\/]", file_name)[-1]
    lowered = base.lower()
    extension = next((ext for ext in PACKAGE_EXTENSIONS if lowered.endswith(ext)), None)
    if extension is None:
        raise PackageNameError(UNSUPPORTED_FORMAT_MESSAGE)
    stem = base[: -len(extension)]
    match = PACKAGE_IDENTITY.match(stem)
    if not match:
        raise PackageNameError(
            f"The package file name '{base}' is not valid: it must be <PackageId>.<Version>{base[len(stem) :]}, "
            "for example MyApp.1.0.0.zip."
        )
    return PackageName(match["id"], match["version"], base[len(stem) :])


def split_package_resource_id(resource_id: str) -> tuple[str, str] | None:
    """Read `packages-MyApp.1.0.0` or `MyApp.1.0.0` (both forms clients send) as (package ID, version)."""
    candidates = [resource_id]
    if resource_id.lower().startswith("packages-"):
        candidates.insert(0, resource_id[len("packages-") :])
    for candidate in candidates:
        match = PACKAGE_IDENTITY.match(candidate)
        if match:
            return match["id"], match["version"]
    return None


_VERSION = re.compile(r"^(?P<core>\d+(?:\.\d+)*)(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+.*)?$")


def version_sort_key(version: str) -> tuple:
    """Order versions SemVer/NuGet style: numeric parts (1.0 == 1.0.0), then a release above its pre-releases.

    Pre-release labels compare part by part, numbers numerically and below words, words case-insensitively.
    Text that is not a version sorts below every version, by its lower-cased text.
    """
    match = _VERSION.match(version.strip())
    if not match:
        return (0, (), 0, (), version.lower())
    numbers = [int(part) for part in match["core"].split(".")]
    numbers += [0] * (4 - len(numbers))
    pre = match["pre"]
    labels = tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in pre.split(".")) if pre else ()
    return (1, tuple(numbers), 0 if pre else 1, labels, "")


def same_version(left: str, right: str) -> bool:
    """One package version as NuGet sees it: 1.0 == 1.0.0, labels case-insensitive, metadata ignored."""
    return version_key(left) == version_key(right)


def normalised_version(version: str) -> str:
    """NuGet's normalised spelling: at least three numbers, a zero fourth dropped, build metadata dropped."""
    match = _VERSION.match(version.strip())
    if not match:
        return version
    numbers = match["core"].split(".")
    numbers = [str(int(n)) for n in numbers] + ["0"] * (3 - len(numbers))
    if len(numbers) == 4 and numbers[3] == "0":
        numbers = numbers[:3]
    return ".".join(numbers) + (f"-{match['pre']}" if match["pre"] else "")


def version_key(version: str) -> str:
    """How the fake files a version: one key for every spelling of one package version."""
    return normalised_version(version).lower()


# --- Commit links (what the server computes for build information) -----------------------------------------------


def commit_link_base(vcs_type: str | None, vcs_root: str | None) -> str | None:
    """Return `{root}/commit` (`{root}/commits` on bitbucket.org), or None when the server would show no links.

    Only Git and TFVC roots get links; `git@host:owner/repo(.git)` becomes `https://host/owner/repo`.
    """
    if vcs_type not in ("Git", "TFVC") or not vcs_root:
        return None
    root = vcs_root.strip()
    ssh = re.match(r"^git@([^:/]+):(.+)$", root)
    if ssh:
        root = f"https://{ssh[1]}/{ssh[2]}"
    elif not re.match(r"^https?://", root, re.IGNORECASE):
        return None
    root = root.rstrip("/")
    if root.lower().endswith(".git"):
        root = root[:-4]
    host = (urlsplit(root).hostname or "").lower()
    segment = "commits" if host in ("bitbucket.org", "www.bitbucket.org") else "commit"
    return f"{root}/{segment}"


# --- Records ------------------------------------------------------------------------------------------------------


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Space:
    id: str
    name: str
    is_default: bool = False
    description: str = ""

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


@dataclass
class Principal:
    """Who an API key or access token authenticates as, and what that user may do."""

    user_id: str
    username: str
    permissions: frozenset[str]


@dataclass
class StoredPackage:
    """One package version in the built-in feed; its bytes live in a file, never in memory."""

    space_id: str
    package_id: str  # casing of the first upload
    version: str
    extension: str
    path: Path
    sha1: str
    size: int
    published: str

    def read_bytes(self) -> bytes:
        """The stored file's content (for small test packages)."""
        return self.path.read_bytes()


@dataclass
class UploadRecord:
    """The file part of a multipart request as the server received it (for a delta upload: the delta)."""

    field_name: str | None
    file_name: str
    content_type: str | None
    size: int
    sha1: str


@dataclass
class RequestRecord:
    """One request as the fake saw it, for assertions."""

    method: str
    path: str  # as received, without the query string (includes any path prefix)
    route: str  # the path with the prefix removed, e.g. /api/Spaces-1/packages/raw
    query: dict[str, str]  # last value per name, names as sent
    headers: dict[str, str]  # names lower-cased
    kind: str = "unknown"  # one of ROUTE_KINDS
    body_size: int = 0  # body bytes received (after chunked decoding)
    chunked: bool = False
    upload: UploadRecord | None = None
    json: Any = None  # parsed JSON body, for JSON requests
    status: int | None = None  # None when the connection was dropped without a response
    dropped: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Behaviour:
    """Server-version differences that tests may switch; read on every request."""

    server_version: str = "2024.3.12741"
    duplicate_package_status: int = 409  # 400 mimics servers older than 3.4
    duplicate_package_message: str = DUPLICATE_PACKAGE_MESSAGE
    overwrite_package_status: int = 200  # the real status is unconfirmed: 200 or 201
    duplicate_build_information_status: int = 400  # unconfirmed: 400 or 409
    missing_key_message: str = MISSING_KEY_MESSAGE
    invalid_key_message: str = INVALID_KEY_MESSAGE
    delta_enabled: bool = True  # False: no delta links in root documents and the delta routes answer 404
    anonymous_root: bool = True  # GET /api without credentials is allowed (an invalid key still gets 401)
    bare_package_ids: bool = True  # False: GET packages/{Id.Ver} is 404, only the resource ID packages-{Id.Ver} works
    endless_spaces_paging: bool = False  # True: /api/spaces ignores skip and claims a billion results
    # Generations (generations.py sets these together, like one Octopus release):
    spaces_enabled: bool = True  # False: before 2019.1, no Spaces links, routes only under /api
    build_information_enabled: bool = True  # False: before 2019.9, no BuildInformation link, its routes 404
    package_metadata_link: bool = False  # 2019.4-2019.8 published PackageMetadata instead of BuildInformation
    honours_overwrite_mode: bool = True  # False: before 2019.7.9, overwriteMode is ignored and only replace is read
    upload_query: str = "replace,overwriteMode"  # the query variables of the PackageUpload/PackageDeltaUpload links
    access_tokens: bool = True  # False: before 2023.4 (OIDC), Bearer tokens are refused and discovery is 404
    normalised_versions: bool = False  # True: stores and answers a version in NuGet's normalised spelling (1.0.0)
    package_hash: str = "always"  # "upload": only upload answers carry Hash; "never": no answer does
    raw_downloads: bool = True  # False: GET packages/{id}/raw answers 404 (the stored file cannot be read back)
    prefixed_links: bool = False  # True: under a path_prefix, links carry it (/octopus/api/...) as IIS virtual dirs do
    max_request_body_size: int | None = None  # Octopus 2026.1's webMaxRequestBodySizeInBytes: larger bodies get 413


@dataclass
class _Failure:
    status: int
    remaining: int | None  # None: until cleared
    message: str | None
    html: bool = False  # answer with a web page (a proxy's or a sign-in page) instead of Octopus JSON
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers, such as Retry-After


BROKEN_ANSWERS = ("truncate", "bad-gzip", "bad-chunks", "trickle")
"""How a handled request's answer can be spoiled: a body cut short, a gzip that is not, broken chunk framing,
or the whole answer sent a byte at a time (`BrokenAnswer.interval` apart)."""


@dataclass(frozen=True)
class BrokenAnswer:
    how: str
    interval: float = 0.05


@dataclass(frozen=True)
class Cut:
    """Stop reading a request body after `after_bytes` and end the connection: `reset` (RST) or `close` (FIN)."""

    after_bytes: int
    how: str


class Faults:
    """Switchable misbehaviour per route kind ("*" matches every kind). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, list[_Failure]] = {}
        self._delays: dict[str, float] = {}
        self._drops: dict[str, int] = {}
        self._garbles: dict[str, int] = {}
        self._cuts: dict[str, list[Cut]] = {}
        self._broken_answers: dict[str, list[BrokenAnswer]] = {}

    def fail_next(self, kind: str, status: int, times: int | None, message: str | None, html: bool = False,
                  headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._failures.setdefault(kind, []).append(_Failure(status, times, message, html, headers or {}))

    def break_answer_next(self, kind: str, broken: BrokenAnswer, times: int) -> None:
        with self._lock:
            self._broken_answers.setdefault(kind, []).extend([broken] * times)

    def take_broken_answer(self, kind: str) -> BrokenAnswer | None:
        with self._lock:
            for key in (kind, "*"):
                if self._broken_answers.get(key):
                    return self._broken_answers[key].pop(0)
            return None

    def cut_next(self, kind: str, cut: Cut, times: int) -> None:
        with self._lock:
            self._cuts.setdefault(kind, []).extend([cut] * times)

    def take_cut(self, kind: str) -> Cut | None:
        with self._lock:
            for key in (kind, "*"):
                if self._cuts.get(key):
                    return self._cuts[key].pop(0)
            return None

    def take_failure(self, kind: str) -> _Failure | None:
        with self._lock:
            for key in (kind, "*"):
                queue = self._failures.get(key, [])
                if queue:
                    failure = queue[0]
                    if failure.remaining is not None:
                        failure.remaining -= 1
                        if failure.remaining <= 0:
                            queue.pop(0)
                    return failure
            return None

    def set_delay(self, kind: str, seconds: float) -> None:
        with self._lock:
            self._delays[kind] = seconds

    def delay_for(self, kind: str) -> float:
        with self._lock:
            return self._delays.get(kind, self._delays.get("*", 0.0))

    def drop_next(self, kind: str, times: int) -> None:
        with self._lock:
            self._drops[kind] = self._drops.get(kind, 0) + times

    def garble_next(self, kind: str, times: int) -> None:
        with self._lock:
            self._garbles[kind] = self._garbles.get(kind, 0) + times

    def take_garble(self, kind: str) -> bool:
        with self._lock:
            for key in (kind, "*"):
                if self._garbles.get(key, 0) > 0:
                    self._garbles[key] -= 1
                    return True
            return False

    def take_drop(self, kind: str) -> bool:
        with self._lock:
            for key in (kind, "*"):
                if self._drops.get(key, 0) > 0:
                    self._drops[key] -= 1
                    return True
            return False

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._delays.clear()
            self._drops.clear()
            self._garbles.clear()
            self._cuts.clear()
            self._broken_answers.clear()


class OctopusState:
    """Everything the fake server holds. Handlers and tests share it, so every change happens under `lock`."""

    def __init__(self, storage_dir: Path) -> None:
        self.lock = threading.RLock()
        self.storage_dir = storage_dir
        self.incoming_dir = storage_dir / "incoming"
        self.incoming_dir.mkdir(parents=True, exist_ok=True)
        self.behaviour = Behaviour()
        self.faults = Faults()
        self.spaces: dict[str, Space] = {}
        self.principals: dict[str, Principal] = {}  # API key or access token -> principal
        self.packages: dict[tuple[str, str, str], StoredPackage] = {}  # (space, id lower, version lower)
        self.build_information: dict[tuple[str, str, str], dict[str, Any]] = {}  # same key shape
        self.requests: list[RequestRecord] = []
        self.stores: list[tuple[str, str, str, str]] = []  # (space, id lower, version lower, sha1) per HTTP store
        self._next_build_information = 1
        self._next_key = 1
        self._signature_cache: dict[tuple[str, str], bytes] = {}
        self.add_space("Default", space_id="Spaces-1", is_default=True)
        self.add_space("Team Space", space_id="Spaces-2")
        default_user = Principal("Users-1", "fake-ci", ALL_PERMISSIONS)
        self.principals[DEFAULT_API_KEY] = default_user
        self.principals[DEFAULT_ACCESS_TOKEN] = default_user

    # spaces and credentials

    def add_space(self, name: str, *, space_id: str | None = None, is_default: bool = False) -> Space:
        with self.lock:
            if space_id is None:
                space_id = f"Spaces-{max((int(s.split('-')[1]) for s in self.spaces), default=0) + 1}"
            if is_default:
                for space in self.spaces.values():
                    space.is_default = False
            space = Space(space_id, name, is_default)
            self.spaces[space_id] = space
            return space

    def find_space(self, space_id: str) -> Space | None:
        with self.lock:
            return next((s for s in self.spaces.values() if s.id.lower() == space_id.lower()), None)

    def default_space(self) -> Space | None:
        with self.lock:
            return next((s for s in self.spaces.values() if s.is_default), None)

    def add_principal(self, permissions: frozenset[str], username: str | None = None, key: str | None = None) -> str:
        with self.lock:
            number = self._next_key
            self._next_key += 1
            key = key or f"API-FAKEKEY{number:04d}"
            user_number = len({p.user_id for p in self.principals.values()}) + 1
            self.principals[key] = Principal(f"Users-{user_number}", username or f"fake-user-{number}", permissions)
            return key

    # packages

    def find_package(self, space_id: str, package_id: str, version: str) -> StoredPackage | None:
        with self.lock:
            return self.packages.get((space_id, package_id.lower(), version_key(version)))

    def versions_of(self, space_id: str, package_id: str) -> list[StoredPackage]:
        """Every stored version of a package ID, highest version first."""
        with self.lock:
            found = [p for (s, i, _), p in self.packages.items() if s == space_id and i == package_id.lower()]
        return sorted(found, key=lambda p: version_sort_key(p.version), reverse=True)

    def store_package(
        self, space_id: str, name: PackageName, source: Path, sha1: str, size: int, *, uploaded: bool = True
    ) -> StoredPackage:
        """Move an uploaded temp file into the feed (replacing any stored file of that version)."""
        with self.lock:
            key = (space_id, name.package_id.lower(), version_key(name.version))
            if uploaded:
                self.stores.append((*key, sha1))
            existing = self.packages.get(key)
            folder = self.storage_dir / "feed" / space_id
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{name.package_id.lower()}.{key[2]}{name.extension.lower()}"
            if existing is not None and existing.path != target:
                existing.path.unlink(missing_ok=True)
            shutil.move(source, target)
            package = StoredPackage(
                space_id,
                existing.package_id if existing else name.package_id,
                existing.version if existing else self.spelling(name.version),
                name.extension.lower(),
                target,
                sha1,
                size,
                now_iso(),
            )
            self.packages[key] = package
            return package

    def seed_package(self, space_id: str, file_name: str, content: bytes | Path) -> StoredPackage:
        """Put a package in the feed without HTTP (test setup)."""
        name = parse_package_file_name(file_name)
        staged = self.new_incoming_path()
        if isinstance(content, Path):
            shutil.copyfile(content, staged)
        else:
            staged.write_bytes(content)
        digest, size = file_sha1(staged)
        return self.store_package(space_id, name, staged, digest, size, uploaded=False)

    def new_incoming_path(self) -> Path:
        with self.lock:
            self._next_key += 1
            return self.incoming_dir / f"upload-{self._next_key}-{threading.get_ident()}.part"

    def signature_for(self, package: StoredPackage, build: Callable[[BinaryIO], bytes]) -> bytes:
        """The Octodiff signature of a stored file, computed once per file content."""
        cache_key = (str(package.path), package.sha1)
        with self.lock:
            cached = self._signature_cache.get(cache_key)
        if cached is None:
            with package.path.open("rb") as basis:
                cached = build(basis)
            with self.lock:
                self._signature_cache[cache_key] = cached
        return cached

    # build information

    def find_build_information(self, space_id: str, package_id: str, version: str) -> dict[str, Any] | None:
        with self.lock:
            return self.build_information.get((space_id, package_id.lower(), version_key(version)))

    def save_build_information(self, space_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace the record for (package ID, version); a replacement keeps its Id and Created."""
        with self.lock:
            record["Version"] = self.spelling(record["Version"])
            key = (space_id, record["PackageId"].lower(), version_key(record["Version"]))
            existing = self.build_information.get(key)
            stamp = now_iso()
            if existing is None:
                record["Id"] = f"BuildInformation-{self._next_build_information}"
                self._next_build_information += 1
                record["Created"] = stamp
            else:
                record["Id"] = existing["Id"]
                record["Created"] = existing["Created"]
            record["LastModifiedOn"] = stamp
            self.build_information[key] = record
            return record

    def spelling(self, version: str) -> str:
        """The version as this server stores and answers it (normalised when behaviour says so)."""
        return normalised_version(version) if self.behaviour.normalised_versions else version

    # request log

    def log(self, record: RequestRecord) -> None:
        with self.lock:
            self.requests.append(record)


def file_sha1(path: Path) -> tuple[str, int]:
    """Lowercase hex SHA-1 and size of a file, read in blocks."""
    digest = hashlib.sha1()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size
