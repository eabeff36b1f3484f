"""A faithful fake Octopus Deploy server (REST API for package and build-information push) for tests.

It follows shared/research/octopus-rest.md §7 and octodiff.md §7: a real ThreadingHTTPServer on 127.0.0.1
(port 0 = a free port) in a background thread, with packages stored on disk so gigabyte uploads are cheap.

Start it
    with FakeOctopus() as octopus:    # or the pytest fixture `octopus` (test/fakes/fixtures_octopus.py)
        octopus.url       # "http://127.0.0.1:PORT", plus path_prefix if given: FakeOctopus(path_prefix="/octopus")
        octopus.api_key   # "API-FAKEOCTOPUSTEST1", every permission; octopus.access_token works as a Bearer token
        octopus.space_id  # "Spaces-1", the default space "Default"; "Spaces-2" is "Team Space"
    HTTPS: FakeOctopus(tls=server_ssl_context) (fixture make_https_octopus in test/fakes/fixtures_network.py).
    Delta routes use the fake's own Octodiff (octodiff_reference.py), never the pipe's.
    Manually: `cd test/fakes && python3 -m fake_octopus --port 8065 [--prefix /octopus]` prints the URL and API key.

Set up state
    add_space(name, space_id=None, is_default=False) -> Space;  set_default_space(id | None)
    add_api_key(without=("BuiltInFeedPush",), username=None, key=None) -> key
        (or permissions=[...]; permission names in state.ALL_PERMISSIONS:
        BuiltInFeedPush, BuiltInFeedAdminister, BuildInformationPush, BuildInformationAdminister, FeedView)
    add_package("MyApp.1.0.0.zip", b"..." | Path, space_id="Spaces-1") -> StoredPackage
    behaviour.<switch> (state.Behaviour): duplicate_package_status=409 (400 = servers before 3.4),
        overwrite_package_status=200, duplicate_build_information_status=400 (or 409), duplicate_package_message,
        missing_key_message, invalid_key_message, delta_enabled=True, anonymous_root=True, server_version,
        bare_package_ids=True (False: only packages-{Id}.{Ver} is found), endless_spaces_paging=False,
        normalised_versions=False (True: store and answer 1.0 as 1.0.0), package_hash="always" ("upload": only
        upload answers carry Hash; "never"), raw_downloads=True (False: packages/{id}/raw is 404),
        prefixed_links=False (True: under a path_prefix, links carry it: /octopus/api/...)
    generations.use_generation(fake, "2018.10" | "2019.4" | "2019.9" | "2020.4" | "2024.1" | "2026.1"): set every
        Behaviour field like that release (spaces, build information, overwriteMode or replace, access tokens,
        link templates); routes the release lacks answer 404

Read state
    packages(space_id=None) -> [StoredPackage];  package(id, version, space_id="Spaces-1") -> StoredPackage | None
    package_bytes(id, version, space_id=...) -> bytes;  stored_copies(id, version, space_id=...) -> [sha1 per store]
        StoredPackage: space_id, package_id, version, extension, path (the file on disk), sha1 (lowercase hex),
        size, published, read_bytes()
    build_information(space_id=None) -> [dict];  build_information_for(id, version, space_id=...) -> dict | None;
        latest_build_information(id, space_id=...) -> dict | None
        (the mapped resource: Id, PackageId, Version, ..., VcsCommitUrl, Commits[{Id, LinkUrl, Comment}])
    requests -> [RequestRecord], oldest first;  requests_of(kind=None, method=None);  clear_requests()
        RequestRecord: method, path (as received), route (prefix removed), query {name: last value},
        headers {lower-cased name: value}, header(name), kind (state.ROUTE_KINDS), body_size, chunked,
        upload (UploadRecord: field_name, file_name, content_type, size, sha1 of the file part), json (parsed body),
        status (None if dropped), dropped

Faults (per route kind: root, space-root, users, spaces, upload, packages, delta-signature, delta-upload,
build-information, build-information-read, unknown; "*" = any)
    fail_next(kind="*", status=503, times=1, message=None)   answer with `status` without handling (times=None: always);
        401 and 403 get the real servers' bodies, so this also forces auth failures
    set_delay(kind, seconds)      wait before answering, after handling (a slow upload still stores the package)
    drop_next(kind="upload", times=1)   handle fully (store), then close the socket without a response
    cut_next(kind="upload", after_bytes=1024, how="reset"|"close", times=1)   read part of the body, then RST/FIN
    answer_html_next(kind="upload", status=200, times=1)   answer with a sign-in web page, unhandled
    garble_next(kind="upload", times=1)   handle fully (store), then answer 2xx with its JSON cut in half
    rate_limit_next(kind="*", retry_after="1", times=1)   answer 429 with Retry-After (seconds or a date), unhandled
    break_answer_next(kind="upload", how="truncate"|"bad-gzip"|"bad-chunks"|"trickle", interval=0.05, times=1)
        handle fully (store), then answer with a body cut short, a false gzip, broken chunks, or a byte per interval
    behaviour.max_request_body_size = N   bodies larger than N bytes get Kestrel's 413, unhandled (Octopus 2026.1)
    clear_faults()

Routes: GET /api, /api/{spaceId}, /api/users/me, /api/users/{id}/spaces, /api/spaces{?name,partialName,ids,skip,take},
/api/spaces/all, /api/spaces/{id}; per space (/api/{spaceId}/..., /api/spaces/{spaceId}/..., or /api/... for the
default space): POST packages/raw{?overwriteMode,replace}, GET packages{?nuGetPackageId,filter,latest,skip,take},
GET packages/{packages-Id.Ver | Id.Ver}[/raw], GET packages/{id}/{version}/delta-signature,
POST packages/{id}/{baseVersion}/delta{?overwriteMode}, POST build-information{?overwriteMode},
GET build-information{?packageId,partialPackageId,filter,latest,skip,take}, GET build-information/{id}.
Paths match case-insensitively. Auth: X-Octopus-ApiKey, ?apikey= or Authorization: Bearer.
"""

from .server import FakeOctopus, HttpError
from .state import (
    ALL_PERMISSIONS,
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_API_KEY,
    DEFAULT_SPACE_ID,
    ROUTE_KINDS,
    Behaviour,
    RequestRecord,
    StoredPackage,
    UploadRecord,
    version_sort_key,
)

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_API_KEY",
    "DEFAULT_SPACE_ID",
    "ROUTE_KINDS",
    "Behaviour",
    "FakeOctopus",
    "HttpError",
    "RequestRecord",
    "StoredPackage",
    "UploadRecord",
    "version_sort_key",
]
