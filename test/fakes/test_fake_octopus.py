"""Tests of the fake Octopus server itself, so the client tests that rely on it can trust what it says."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import socket
import struct
import threading
from collections.abc import Iterator

import pytest
import requests

from fake_octopus import FakeOctopus, octodiff_reference, version_sort_key
from fake_octopus.bodies import BodyError, BodyReader, read_multipart
from fake_octopus.state import commit_link_base, parse_package_file_name

COMMIT = "314cf2c3ee916c92a384c2796a6abe332d678e4f"


def auth(octopus: FakeOctopus, key: str | None = None) -> dict[str, str]:
    return {"X-Octopus-ApiKey": key or octopus.api_key}


def push(
    octopus: FakeOctopus,
    file_name: str,
    content: bytes,
    *,
    query: str = "",
    field: str = "file",
    key: str | None = None,
    path: str = "/api/Spaces-1/packages/raw",
    timeout: float = 30,
) -> requests.Response:
    url = f"{octopus.url}{path}{'?' + query if query else ''}"
    files = {field: (file_name, content, "application/octet-stream")}
    return requests.post(url, headers=auth(octopus, key), files=files, timeout=timeout)


def build_information(**overrides) -> dict:
    body = {
        "PackageId": "MyApp",
        "Version": "1.0.42",
        "OctopusBuildInformation": {
            "BuildEnvironment": "BitBucket",
            "BuildNumber": "42",
            "BuildUrl": "https://bitbucket.org/ws/repo/addon/pipelines/home#!/results/42",
            "Branch": "main",
            "VcsType": "Git",
            "VcsRoot": "http://bitbucket.org/ws/repo",
            "VcsCommitNumber": COMMIT,
            "Commits": [{"Id": COMMIT, "Comment": "PET-1 - first"}],
        },
    }
    body.update(overrides)
    return body


def post_build_information(octopus: FakeOctopus, body: dict, query: str = "", key: str | None = None):
    url = f"{octopus.url}/api/Spaces-1/build-information{'?' + query if query else ''}"
    return requests.post(url, headers=auth(octopus, key), json=body, timeout=30)


def assert_error(response: requests.Response, status: int, text: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"ErrorMessage", "Errors"}
    assert text in body["ErrorMessage"] + "\n".join(body["Errors"])
    return body


# --- root, auth and spaces ----------------------------------------------------------------------------------------


def test_root_document_is_served_anonymously_with_default_space_links(octopus: FakeOctopus) -> None:
    response = requests.get(f"{octopus.url}/api", timeout=10)
    assert response.status_code == 200
    root = response.json()
    assert root["Application"] == "Octopus Deploy"
    assert root["ApiVersion"] == "3.0.0"
    links = root["Links"]
    assert links["CurrentUser"] == "/api/users/me"
    assert links["SpaceHome"] == "/api/{spaceId}"
    assert links["PackageUpload"] == "/api/Spaces-1/packages/raw{?replace,overwriteMode}"
    assert links["BuildInformation"].startswith("/api/Spaces-1/build-information{/id}")
    assert links["PackageDeltaSignature"] == "/api/Spaces-1/packages/{packageId}/{version}/delta-signature"


def test_an_invalid_key_gets_401_even_on_the_root(octopus: FakeOctopus) -> None:
    response = requests.get(f"{octopus.url}/api", headers={"X-Octopus-ApiKey": "API-WRONG"}, timeout=10)
    assert_error(response, 401, "The API key you provided was not valid")


def test_protected_routes_need_credentials(octopus: FakeOctopus) -> None:
    response = requests.get(f"{octopus.url}/api/users/me", timeout=10)
    assert_error(response, 401, "You must be logged in")
    empty_key = requests.get(f"{octopus.url}/api/users/me", headers={"X-Octopus-ApiKey": ""}, timeout=10)
    assert empty_key.status_code == 401


def test_key_in_query_string_and_bearer_token_are_accepted(octopus: FakeOctopus) -> None:
    by_query = requests.get(f"{octopus.url}/api/users/me?apikey={octopus.api_key}", timeout=10)
    by_bearer = requests.get(
        f"{octopus.url}/api/users/me", headers={"Authorization": f"Bearer {octopus.access_token}"}, timeout=10
    )
    assert by_query.json()["Id"] == by_bearer.json()["Id"] == "Users-1"


def test_current_user_links_to_its_spaces_with_the_default_marked(octopus: FakeOctopus) -> None:
    me = requests.get(f"{octopus.url}/api/users/me", headers=auth(octopus), timeout=10).json()
    spaces = requests.get(octopus.url + me["Links"]["Spaces"], headers=auth(octopus), timeout=10).json()
    assert [(s["Id"], s["IsDefault"]) for s in spaces] == [("Spaces-1", True), ("Spaces-2", False)]


def test_spaces_by_exact_name_is_case_insensitive(octopus: FakeOctopus) -> None:
    def names(query: str) -> list[str]:
        page = requests.get(f"{octopus.url}/api/spaces?{query}", headers=auth(octopus), timeout=10).json()
        assert page["ItemType"] == "Space"
        return [space["Name"] for space in page["Items"]]

    assert names("name=team%20SPACE") == ["Team Space"]
    assert names("name=Team") == []
    assert names("partialName=team") == ["Team Space"]
    assert names("") == ["Default", "Team Space"]


def test_spaces_are_paged_with_a_next_link(octopus: FakeOctopus) -> None:
    page = requests.get(f"{octopus.url}/api/spaces?take=1", headers=auth(octopus), timeout=10).json()
    assert page["TotalResults"] == 2 and len(page["Items"]) == 1
    second = requests.get(octopus.url + page["Links"]["Page.Next"], headers=auth(octopus), timeout=10).json()
    assert [s["Name"] for s in second["Items"]] == ["Team Space"]
    assert "Page.Next" not in second["Links"]


def test_spaces_by_id_all_and_space_root(octopus: FakeOctopus) -> None:
    one = requests.get(f"{octopus.url}/api/spaces/spaces-2", headers=auth(octopus), timeout=10)
    assert one.json()["Name"] == "Team Space"
    everything = requests.get(f"{octopus.url}/api/spaces/all", headers=auth(octopus), timeout=10).json()
    assert [s["Id"] for s in everything] == ["Spaces-1", "Spaces-2"]
    root = requests.get(f"{octopus.url}/api/Spaces-2", headers=auth(octopus), timeout=10).json()
    assert root["Id"] == "Spaces-2"
    assert root["Links"]["PackageUpload"] == "/api/Spaces-2/packages/raw{?replace,overwriteMode}"
    assert_error(requests.get(f"{octopus.url}/api/spaces/Spaces-9", headers=auth(octopus), timeout=10), 404, "")
    assert_error(requests.get(f"{octopus.url}/api/Spaces-9", headers=auth(octopus), timeout=10), 404, "Spaces-9")


def test_unknown_routes_and_wrong_methods_get_json_errors(octopus: FakeOctopus) -> None:
    assert_error(requests.get(f"{octopus.url}/api/nothing/here", headers=auth(octopus), timeout=10), 404, "nothing")
    assert_error(requests.get(f"{octopus.url}/elsewhere", timeout=10), 404, "elsewhere")
    wrong = requests.put(f"{octopus.url}/api/Spaces-1/build-information", headers=auth(octopus), json={}, timeout=10)
    assert_error(wrong, 405, "PUT")
    assert octopus.requests_of(method="PUT")[0].kind == "build-information"


def test_a_server_without_a_default_space(octopus: FakeOctopus) -> None:
    octopus.set_default_space(None)
    assert "PackageUpload" not in requests.get(f"{octopus.url}/api", timeout=10).json()["Links"]
    assert_error(push(octopus, "MyApp.1.0.0.zip", b"x", path="/api/packages/raw"), 404, "no default space")


def test_added_space_and_key_without_a_permission(octopus: FakeOctopus) -> None:
    space = octopus.add_space("Apps")
    assert space.id == "Spaces-3"
    key = octopus.add_api_key(without=["BuiltInFeedPush"])
    assert_error(push(octopus, "MyApp.1.0.0.zip", b"x", key=key), 403, "Missing permission: BuiltInFeedPush")
    assert octopus.packages() == []


# --- package upload -----------------------------------------------------------------------------------------------


def test_create_then_duplicate_then_ignore_then_overwrite(octopus: FakeOctopus) -> None:
    created = push(octopus, "MyApp.1.0.0.zip", b"first", query="overwriteMode=FailIfExists")
    assert created.status_code == 201
    resource = created.json()
    assert resource["Id"] == "packages-MyApp.1.0.0"
    assert resource["Hash"] == hashlib.sha1(b"first").hexdigest()
    assert resource["PackageSizeBytes"] == 5
    assert resource["FileExtension"] == ".zip"

    again = push(octopus, "MyApp.1.0.0.zip", b"second", query="overwriteMode=FailIfExists")
    body = assert_error(again, 409, "A package with the same name and version already exists")
    assert body["Errors"] == [body["ErrorMessage"]]

    ignored = push(octopus, "MyApp.1.0.0.zip", b"second", query="overwriteMode=ignoreifexists")
    assert ignored.status_code == 200
    assert ignored.json()["Hash"] == hashlib.sha1(b"first").hexdigest()
    assert octopus.package_bytes("myapp", "1.0.0") == b"first"

    replaced = push(octopus, "MyApp.1.0.0.zip", b"second", query="overwriteMode=OverwriteExisting")
    assert replaced.status_code == 200
    assert replaced.json()["Hash"] == hashlib.sha1(b"second").hexdigest()
    assert octopus.package_bytes("MyApp", "1.0.0") == b"second"
    assert len(octopus.packages()) == 1


def test_legacy_replace_parameter_and_legacy_400_duplicates(octopus: FakeOctopus) -> None:
    assert push(octopus, "MyApp.1.0.0.zip", b"a").status_code == 201
    assert push(octopus, "MyApp.1.0.0.zip", b"b", query="replace=true").status_code == 200
    assert octopus.package_bytes("MyApp", "1.0.0") == b"b"
    assert push(octopus, "MyApp.1.0.0.zip", b"c", query="replace=false").status_code == 409
    octopus.behaviour.duplicate_package_status = 400
    assert_error(push(octopus, "MyApp.1.0.0.zip", b"c"), 400, "already exists")


def test_invalid_overwrite_mode_is_rejected(octopus: FakeOctopus) -> None:
    assert_error(push(octopus, "MyApp.1.0.0.zip", b"a", query="overwriteMode=Sometimes"), 400, "overwrite mode")
    assert octopus.packages() == []


@pytest.mark.parametrize(
    ("file_name", "content", "text"),
    [
        ("MyApp.zip", b"x", "is not valid"),
        ("My App.1.0.0.zip", b"x", "is not valid"),
        ("MyApp.1.0.0.exe", b"x", "The uploaded file isn't in a supported package format."),
        ("MyApp.1.0.0.zip", b"", "empty"),
    ],
)
def test_bad_uploads_get_400(octopus: FakeOctopus, file_name: str, content: bytes, text: str) -> None:
    body = assert_error(push(octopus, file_name, content), 400, text)
    assert body["ErrorMessage"] == "There was a problem with your request."
    assert octopus.packages() == []


def test_requests_without_a_file_part_get_400(octopus: FakeOctopus) -> None:
    url = f"{octopus.url}/api/Spaces-1/packages/raw"
    form_only = requests.post(url, headers=auth(octopus), files={"name": (None, "MyApp")}, timeout=10)
    assert_error(form_only, 400, "A package file must be provided")
    not_multipart = requests.post(url, headers=auth(octopus), data=b"raw bytes", timeout=10)
    assert_error(not_multipart, 400, "multipart/form-data")


def test_any_field_name_path_in_file_name_tar_gz_and_prerelease(octopus: FakeOctopus) -> None:
    response = push(octopus, "C:\\build\\My.App.2.0.0-beta.1.tar.gz", b"tgz", field="fileToUpload")
    assert response.status_code == 201
    assert response.json()["PackageId"] == "My.App"
    assert response.json()["Version"] == "2.0.0-beta.1"
    assert response.json()["FileExtension"] == ".tar.gz"
    record = octopus.requests_of("upload")[-1]
    assert record.upload is not None
    assert (record.upload.field_name, record.upload.file_name) == (
        "fileToUpload",
        "C:\\build\\My.App.2.0.0-beta.1.tar.gz",
    )


def test_chunked_upload_is_accepted_and_logged(octopus: FakeOctopus) -> None:
    content = bytes(range(256)) * 5000

    def body() -> Iterator[bytes]:
        yield b'--BOUNDARY\r\nContent-Disposition: form-data; name="file"; filename="Chunky.1.0.0.zip"\r\n'
        yield b"Content-Type: application/octet-stream\r\n\r\n"
        for start in range(0, len(content), 7777):
            yield content[start : start + 7777]
        yield b"\r\n--BOUNDARY--\r\n"

    headers = {**auth(octopus), "Content-Type": "multipart/form-data; boundary=BOUNDARY"}
    response = requests.post(
        f"{octopus.url}/api/Spaces-1/packages/raw?overwriteMode=FailIfExists", headers=headers, data=body(), timeout=30
    )
    assert response.status_code == 201
    assert octopus.package_bytes("Chunky", "1.0.0") == content
    record = octopus.requests_of("upload")[-1]
    assert record.chunked and record.header("Transfer-Encoding") == "chunked"
    assert record.query == {"overwriteMode": "FailIfExists"}
    assert record.upload is not None and record.upload.size == len(content)
    assert record.upload.sha1 == hashlib.sha1(content).hexdigest()
    assert record.body_size > len(content)


def test_default_space_alias_spaces_prefix_and_case_insensitive_paths(octopus: FakeOctopus) -> None:
    assert push(octopus, "A.1.0.0.zip", b"a", path="/api/packages/raw").status_code == 201
    assert push(octopus, "B.1.0.0.zip", b"b", path="/api/spaces/Spaces-2/packages/raw").status_code == 201
    assert push(octopus, "C.1.0.0.zip", b"c", path="/API/SPACES-2/Packages/RAW").status_code == 201
    assert octopus.package("A", "1.0.0") is not None
    assert {p.package_id for p in octopus.packages("Spaces-2")} == {"B", "C"}


def test_server_under_a_path_prefix(make_octopus) -> None:
    octopus = make_octopus(path_prefix="/octopus/")
    assert octopus.url.endswith("/octopus")
    assert requests.get(f"{octopus.url}/api", timeout=10).status_code == 200
    assert push(octopus, "A.1.0.0.zip", b"a").status_code == 201
    root_without_prefix = octopus.url.removesuffix("/octopus") + "/api"
    assert requests.get(root_without_prefix, timeout=10).status_code == 404


def test_package_lookup_by_both_id_forms_and_listing(octopus: FakeOctopus) -> None:
    for version in ("1.0.4", "1.0.10", "1.0.10-rc.1"):
        octopus.add_package(f"MyApp.{version}.zip", version.encode())
    octopus.add_package("Other.3.0.0.zip", b"o")
    for resource_id in ("packages-MyApp.1.0.10", "myapp.1.0.10"):
        response = requests.get(f"{octopus.url}/api/Spaces-1/packages/{resource_id}", headers=auth(octopus), timeout=10)
        assert response.status_code == 200
        assert response.json()["Hash"] == hashlib.sha1(b"1.0.10").hexdigest()
    missing = requests.get(f"{octopus.url}/api/Spaces-1/packages/MyApp.9.9.9", headers=auth(octopus), timeout=10)
    assert_error(missing, 404, "MyApp.9.9.9")
    raw = requests.get(
        f"{octopus.url}/api/Spaces-1/packages/packages-MyApp.1.0.4/raw", headers=auth(octopus), timeout=10
    )
    assert raw.content == b"1.0.4"

    def listed(query: str) -> list[str]:
        page = requests.get(f"{octopus.url}/api/Spaces-1/packages?{query}", headers=auth(octopus), timeout=10).json()
        assert page["ItemType"] == "PackageFromBuiltInFeed"
        return [item["Id"] for item in page["Items"]]

    assert listed("nuGetPackageId=myapp") == [
        "packages-MyApp.1.0.10",
        "packages-MyApp.1.0.10-rc.1",
        "packages-MyApp.1.0.4",
    ]
    assert listed("latest=true") == ["packages-MyApp.1.0.10", "packages-Other.3.0.0"]


def test_large_upload_streams_to_disk(octopus: FakeOctopus) -> None:
    content = hashlib.sha256(b"seed").digest() * (40 * 1024 * 1024 // 32)  # 40 MiB
    response = push(octopus, "Big.1.0.0.zip", content)
    assert response.status_code == 201
    stored = octopus.package("Big", "1.0.0")
    assert stored is not None and stored.size == len(content)
    assert stored.sha1 == hashlib.sha1(content).hexdigest()
    assert stored.path.stat().st_size == len(content)


# --- build information --------------------------------------------------------------------------------------------


def test_build_information_create_computes_bitbucket_links(octopus: FakeOctopus) -> None:
    response = post_build_information(octopus, build_information(), "overwriteMode=FailIfExists")
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["Id"] == "BuildInformation-1"
    assert record["PackageId"] == "MyApp" and record["Version"] == "1.0.42"
    assert record["BuildEnvironment"] == "BitBucket"
    assert record["VcsCommitUrl"] == f"http://bitbucket.org/ws/repo/commits/{COMMIT}"
    assert record["Commits"] == [
        {"Id": COMMIT, "LinkUrl": f"http://bitbucket.org/ws/repo/commits/{COMMIT}", "Comment": "PET-1 - first"}
    ]
    assert octopus.build_information_for("myapp", "1.0.42") == record
    by_id = requests.get(f"{octopus.url}{record['Links']['Self']}", headers=auth(octopus), timeout=10)
    assert by_id.json() == record


def test_build_information_duplicate_ignore_and_overwrite(octopus: FakeOctopus) -> None:
    assert post_build_information(octopus, build_information()).status_code == 200
    duplicate = post_build_information(octopus, build_information(), "overwriteMode=FailIfExists")
    assert_error(duplicate, 400, "Metadata for the specified Package ID and version already exists.")
    octopus.behaviour.duplicate_build_information_status = 409
    assert post_build_information(octopus, build_information()).status_code == 409

    changed = build_information()
    changed["OctopusBuildInformation"] = {**changed["OctopusBuildInformation"], "BuildNumber": "43"}
    ignored = post_build_information(octopus, changed, "overwriteMode=IgnoreIfExists")
    assert ignored.status_code == 200 and ignored.json()["BuildNumber"] == "42"

    replaced = post_build_information(octopus, {**changed, "OverwriteMode": "OverwriteExisting"})
    assert replaced.status_code == 200
    assert replaced.json()["BuildNumber"] == "43"
    assert replaced.json()["Id"] == "BuildInformation-1"
    assert len(octopus.build_information()) == 1
    assert post_build_information(octopus, {**changed, "Replace": True}).status_code == 200


def test_build_information_body_mode_wins_over_query(octopus: FakeOctopus) -> None:
    assert post_build_information(octopus, build_information()).status_code == 200
    body = {**build_information(), "OverwriteMode": "IgnoreIfExists"}
    assert post_build_information(octopus, body, "overwriteMode=FailIfExists").status_code == 200


def test_build_information_overwrite_needs_administer_permission(octopus: FakeOctopus) -> None:
    key = octopus.add_api_key(without=["BuildInformationAdminister"])
    assert post_build_information(octopus, build_information(), key=key).status_code == 200
    response = post_build_information(octopus, build_information(), "overwriteMode=OverwriteExisting", key=key)
    assert_error(response, 403, "Missing permission: BuildInformationAdminister")
    no_push = octopus.add_api_key(without=["BuildInformationPush"])
    assert_error(post_build_information(octopus, build_information(), key=no_push), 403, "BuildInformationPush")


def test_build_information_property_names_are_case_insensitive_and_extras_ignored(octopus: FakeOctopus) -> None:
    body = {
        "spaceId": "Spaces-1",
        "spaceName": "Default",
        "packageId": "MyApp",
        "version": "2.0.0",
        "octopusBuildInformation": {
            "vcsType": "Git",
            "vcsRoot": "git@github.com:owner/repo.git",
            "vcsCommitNumber": "abc",
            "buildNumber": 7,
            "commits": [{"id": "abc", "comment": "c", "LinkUrl": "ignored"}],
            "WorkItems": [{"Id": "X-1"}],
        },
    }
    record = post_build_information(octopus, body).json()
    assert record["BuildNumber"] == "7"
    assert record["VcsCommitUrl"] == "https://github.com/owner/repo/commit/abc"
    assert record["Commits"] == [{"Id": "abc", "LinkUrl": "https://github.com/owner/repo/commit/abc", "Comment": "c"}]
    assert record["WorkItems"] == []
    assert octopus.requests_of("build-information")[-1].json == body


def test_build_information_missing_fields_get_400(octopus: FakeOctopus) -> None:
    body = assert_error(post_build_information(octopus, {"PackageId": ""}), 400, "Please specify a package ID.")
    assert len(body["Errors"]) == 3
    not_json = requests.post(
        f"{octopus.url}/api/build-information",
        headers={**auth(octopus), "Content-Type": "application/json"},
        data=b"{nope",
        timeout=10,
    )
    assert_error(not_json, 400, "not valid JSON")


def test_build_information_is_attached_to_the_package_and_listed(octopus: FakeOctopus) -> None:
    octopus.add_package("MyApp.1.0.42.zip", b"p")
    post_build_information(octopus, build_information())
    post_build_information(octopus, build_information(Version="1.0.9"))
    post_build_information(octopus, build_information(PackageId="Other"))
    package = requests.get(f"{octopus.url}/api/Spaces-1/packages/MyApp.1.0.42", headers=auth(octopus), timeout=10)
    assert package.json()["PackageVersionBuildInformation"]["BuildNumber"] == "42"

    def listed(query: str) -> list[tuple[str, str]]:
        url = f"{octopus.url}/api/Spaces-1/build-information?{query}"
        return [
            (r["PackageId"], r["Version"]) for r in requests.get(url, headers=auth(octopus), timeout=10).json()["Items"]
        ]

    assert listed("packageId=myapp") == [("MyApp", "1.0.42"), ("MyApp", "1.0.9")]
    assert listed("packageId=MyApp&filter=1.0.9") == [("MyApp", "1.0.9")]
    assert listed("latest=true") == [("MyApp", "1.0.42"), ("Other", "1.0.42")]
    latest = octopus.latest_build_information("myapp")
    assert latest is not None and latest["Version"] == "1.0.42"


@pytest.mark.parametrize(
    ("vcs_type", "root", "expected"),
    [
        ("Git", "https://bitbucket.org/ws/repo.git", "https://bitbucket.org/ws/repo/commits"),
        ("Git", "git@bitbucket.org:ws/repo.git", "https://bitbucket.org/ws/repo/commits"),
        ("Git", "https://github.com/o/r/", "https://github.com/o/r/commit"),
        ("TFVC", "https://dev.azure.com/o/p", "https://dev.azure.com/o/p/commit"),
        ("SVN", "https://bitbucket.org/ws/repo", None),
        ("git", "https://bitbucket.org/ws/repo", None),
        ("Git", "/local/path", None),
        ("Git", None, None),
    ],
)
def test_commit_link_rules(vcs_type: str, root: str | None, expected: str | None) -> None:
    assert commit_link_base(vcs_type, root) == expected


# --- faults -------------------------------------------------------------------------------------------------------


def test_fail_next_then_success(octopus: FakeOctopus) -> None:
    octopus.fail_next("upload", status=503, times=1)
    failed = push(octopus, "MyApp.1.0.0.zip", b"a")
    assert_error(failed, 503, "503")
    assert octopus.packages() == []
    assert push(octopus, "MyApp.1.0.0.zip", b"a").status_code == 201
    assert [r.status for r in octopus.requests_of("upload")] == [503, 201]


def test_fail_next_on_root_and_forced_auth_failures(octopus: FakeOctopus) -> None:
    octopus.fail_next("root", status=503, times=2)
    statuses = [requests.get(f"{octopus.url}/api", timeout=10).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    octopus.fail_next("upload", status=403)
    assert_error(push(octopus, "MyApp.1.0.0.zip", b"a"), 403, "Missing permission: BuiltInFeedPush")
    octopus.fail_next("*", status=401, times=None)
    assert requests.get(f"{octopus.url}/api/users/me", headers=auth(octopus), timeout=10).status_code == 401
    assert requests.get(f"{octopus.url}/api/spaces", headers=auth(octopus), timeout=10).status_code == 401
    octopus.clear_faults()
    assert requests.get(f"{octopus.url}/api/spaces", headers=auth(octopus), timeout=10).status_code == 200


def test_slow_upload_times_out_on_the_client_but_the_package_is_stored(octopus: FakeOctopus) -> None:
    octopus.set_delay("upload", 2.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        push(octopus, "Slow.1.0.0.zip", b"slow", timeout=0.5)
    stored = octopus.package("Slow", "1.0.0")
    assert stored is not None and stored.sha1 == hashlib.sha1(b"slow").hexdigest()
    lookup = requests.get(f"{octopus.url}/api/Spaces-1/packages/Slow.1.0.0", headers=auth(octopus), timeout=10)
    assert lookup.json()["Hash"] == stored.sha1


def test_drop_after_store(octopus: FakeOctopus) -> None:
    octopus.drop_next("upload")
    with pytest.raises(requests.exceptions.ConnectionError):
        push(octopus, "Dropped.1.0.0.zip", b"dropped")
    assert octopus.package_bytes("Dropped", "1.0.0") == b"dropped"
    record = octopus.requests_of("upload")[-1]
    assert record.dropped and record.status is None
    assert push(octopus, "Dropped.1.0.0.zip", b"dropped").status_code == 409


def raw_answer(octopus: FakeOctopus, path: str = "/api") -> bytes:
    """Everything the fake sends for one GET, read from a plain socket until it closes."""
    with socket.create_connection(("127.0.0.1", octopus.port), timeout=10) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: fake\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_rate_limit_answers_429_with_retry_after_unhandled(octopus: FakeOctopus) -> None:
    octopus.rate_limit_next("upload", retry_after="12")
    answer = push(octopus, "Limited.1.0.0.zip", b"limited")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "12"
    assert octopus.package("Limited", "1.0.0") is None
    octopus.rate_limit_next("root", retry_after=None)
    assert "Retry-After" not in requests.get(f"{octopus.url}/api", timeout=10).headers


@pytest.mark.parametrize("how", ["truncate", "bad-gzip", "bad-chunks", "trickle"])
def test_broken_answers_after_the_request_was_handled(octopus: FakeOctopus, how: str) -> None:
    document = json.loads(raw_answer(octopus).split(b"\r\n\r\n", 1)[1])
    octopus.break_answer_next("root", how=how, interval=0.001)
    broken = raw_answer(octopus)
    broken_head, broken_body = broken.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"Content-Length: (\d+)", broken_head).group(1)) if how != "bad-chunks" else None
    if how == "truncate":
        assert length is not None and len(broken_body) == length // 2
    elif how == "bad-gzip":
        assert b"Content-Encoding: gzip" in broken_head and json.loads(broken_body) == document
    elif how == "bad-chunks":
        assert b"Transfer-Encoding: chunked" in broken_head and broken_body.startswith(b"zz\r\n")
    else:
        assert len(broken_body) == length and json.loads(broken_body) == document
    assert [r.status for r in octopus.requests_of("root")] == [200, 200]  # both handled


def test_a_body_over_the_size_limit_gets_kestrels_413(octopus: FakeOctopus) -> None:
    octopus.behaviour.max_request_body_size = 1000
    answer = push(octopus, "Big.1.0.0.zip", b"x" * 2000)
    assert_error(answer, 413, "Request body too large. The max request body size is 1000 bytes.")
    assert octopus.package("Big", "1.0.0") is None
    assert push(octopus, "Small.1.0.0.zip", b"x" * 10).status_code == 201


def test_stop_does_not_wait_for_slow_responses(make_octopus) -> None:
    octopus = make_octopus()
    octopus.set_delay("root", 60)
    errors: list[Exception] = []

    def call() -> None:
        try:
            requests.get(f"{octopus.url}/api", timeout=30)
        except requests.RequestException as error:
            errors.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    while not octopus.requests_of("root"):  # logged once handled, before the delay
        threading.Event().wait(0.02)
    octopus.stop()
    caller.join(timeout=10)
    assert not caller.is_alive()


# --- delta compression --------------------------------------------------------------------------------------------


def octodelta(target: bytes, commands: list[tuple[str, int, int] | tuple[str, bytes]]) -> bytes:
    """A minimal Octodiff delta (octodiff.md §4) written independently of the pipe's own module."""
    out = io.BytesIO()
    out.write(b"OCTODELTA\x01\x04SHA1" + struct.pack("<i", 20) + hashlib.sha1(target).digest() + b">>>")
    for command in commands:
        if command[0] == "copy":
            out.write(b"\x60" + struct.pack("<qq", command[1], command[2]))
        else:
            data = command[1]
            assert isinstance(data, bytes)
            out.write(b"\x80" + struct.pack("<q", len(data)) + data)
    return out.getvalue()


def test_delta_signature_is_404_without_a_package_of_that_id(octopus: FakeOctopus) -> None:
    response = requests.get(
        f"{octopus.url}/api/Spaces-1/packages/MyApp/1.0.0/delta-signature", headers=auth(octopus), timeout=10
    )
    assert_error(response, 404, "MyApp")


def test_delta_disabled_hides_links_and_routes(octopus: FakeOctopus) -> None:
    octopus.behaviour.delta_enabled = False
    octopus.add_package("MyApp.1.0.0.zip", b"a")
    assert "PackageDeltaSignature" not in requests.get(f"{octopus.url}/api", timeout=10).json()["Links"]
    response = requests.get(
        f"{octopus.url}/api/Spaces-1/packages/MyApp/1.0.1/delta-signature", headers=auth(octopus), timeout=10
    )
    assert response.status_code == 404


def test_delta_signature_uses_the_highest_stored_version(octopus: FakeOctopus) -> None:
    octopus.add_package("MyApp.1.0.4.zip", b"four" * 1000)
    octopus.add_package("MyApp.1.0.10.zip", b"ten" * 1000)
    response = requests.get(
        f"{octopus.url}/api/Spaces-1/packages/myapp/1.0.4/delta-signature", headers=auth(octopus), timeout=10
    )
    assert response.status_code == 200
    body = response.json()
    assert body["BaseVersion"] == "1.0.10"
    signature = base64.b64decode(body["Signature"])
    assert signature.startswith(b"OCTOSIG\x01")
    assert signature == octodiff_reference.signature(io.BytesIO(b"ten" * 1000))


def test_delta_upload_round_trip(octopus: FakeOctopus) -> None:
    base = bytes(range(256)) * 64
    octopus.add_package("MyApp.1.0.0.zip", base)
    target = base[:4000] + b"changed bytes" + base[6000:]
    delta = octodelta(target, [("copy", 0, 4000), ("data", b"changed bytes"), ("copy", 6000, len(base) - 6000)])
    response = push(
        octopus,
        "MyApp.1.1.0.zip",
        delta,
        path="/api/Spaces-1/packages/MyApp/1.0.0/delta",
        query="overwriteMode=FailIfExists",
    )
    assert response.status_code == 201, response.text
    assert response.json()["Hash"] == hashlib.sha1(target).hexdigest()
    assert response.json()["Version"] == "1.1.0"
    assert octopus.package_bytes("MyApp", "1.1.0") == target
    record = octopus.requests_of("delta-upload")[-1]
    assert record.upload is not None and record.upload.size == len(delta)

    again = push(octopus, "MyApp.1.1.0.zip", delta, path="/api/Spaces-1/packages/MyApp/1.0.0/delta")
    assert again.status_code == 409


def test_delta_that_does_not_reproduce_the_file_is_rejected(octopus: FakeOctopus) -> None:
    octopus.add_package("MyApp.1.0.0.zip", b"base" * 100)
    wrong = octodelta(b"something else", [("copy", 0, 400)])
    response = push(octopus, "MyApp.1.1.0.zip", wrong, path="/api/Spaces-1/packages/MyApp/1.0.0/delta")
    assert_error(response, 400, "delta")
    assert octopus.package("MyApp", "1.1.0") is None
    missing_base = push(octopus, "MyApp.1.1.0.zip", wrong, path="/api/Spaces-1/packages/MyApp/0.9.0/delta")
    assert missing_base.status_code == 404


# --- building blocks ----------------------------------------------------------------------------------------------


class _Trickle(io.RawIOBase):
    """A socket-like stream that returns at most a few bytes per read, to split delimiters across reads."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(self._step, size if size >= 0 else self._step))


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64])
def test_multipart_parser_handles_delimiters_split_across_reads(tmp_path, step: int) -> None:
    content = b"--BOUND not a delimiter \r\n--BOUN\r\nx" * 20
    body = (
        b"preamble\r\n--BOUND\r\n"
        b'Content-Disposition: form-data; name="meta"\r\n\r\nvalue\r\n--BOUND\r\n'
        b'Content-Disposition: form-data; name="file"; filename="A.1.0.0.zip"\r\n\r\n' + content + b"\r\n--BOUND\r\n"
        b'Content-Disposition: form-data; name="second"; filename="B.1.0.0.zip"\r\n\r\nignored\r\n--BOUND--\r\nepilogue'
    )
    reader = BodyReader(_Trickle(body, step), len(body), chunked=False)  # type: ignore[arg-type]
    part = read_multipart(reader, b"BOUND", tmp_path / "part")
    assert part is not None
    assert (part.field_name, part.file_name, part.size) == ("file", "A.1.0.0.zip", len(content))
    assert (tmp_path / "part").read_bytes() == content
    assert reader.bytes_read == len(body)


def test_multipart_parser_rejects_a_truncated_body(tmp_path) -> None:
    body = b'--B\r\nContent-Disposition: form-data; name="file"; filename="A.1.0.0.zip"\r\n\r\nno end'
    with pytest.raises(BodyError):
        read_multipart(BodyReader(io.BytesIO(body), len(body), chunked=False), b"B", tmp_path / "part")


def test_versions_sort_numerically_with_prereleases_below_releases() -> None:
    versions = ["1.0.10", "1.0.4", "1.0.10-rc.1", "1.0.10-beta.2", "1.0.10-beta.10", "2.0", "1.0.10-RC.2", "x"]
    assert sorted(versions, key=version_sort_key) == [
        "x",
        "1.0.4",
        "1.0.10-beta.2",
        "1.0.10-beta.10",
        "1.0.10-rc.1",
        "1.0.10-RC.2",
        "1.0.10",
        "2.0",
    ]
    assert version_sort_key("1.0") == version_sort_key("1.0.0.0")


@pytest.mark.parametrize(
    ("file_name", "identity"),
    [
        ("MyApp.1.0.0.zip", ("MyApp", "1.0.0", ".zip")),
        ("My.App.1.0.0.0.nupkg", ("My.App", "1.0.0.0", ".nupkg")),
        ("my_app-web.1.2.3-beta.4+sha.5.TAR.GZ", ("my_app-web", "1.2.3-beta.4+sha.5", ".TAR.GZ")),
        ("path/to/App.10.tgz", ("App", "10", ".tgz")),
    ],
)
def test_package_file_names(file_name: str, identity: tuple[str, str, str]) -> None:
    name = parse_package_file_name(file_name)
    assert (name.package_id, name.version, name.extension) == identity


# --- generations (fake_octopus/generations.py) and the answer knobs ---------------------------------------------


def test_the_2018_10_generation_has_no_spaces_build_information_or_overwrite_mode(octopus: FakeOctopus) -> None:
    from fake_octopus.generations import use_generation

    use_generation(octopus, "2018.10")
    root = requests.get(f"{octopus.url}/api", timeout=30).json()
    assert root["Version"] == "2018.10.3"
    assert "Spaces" not in root["Links"] and "BuildInformation" not in root["Links"]
    assert root["Links"]["PackageUpload"] == "/api/packages/raw{?replace}"
    for path in ("/api/Spaces-1", "/api/spaces", "/api/Spaces-1/packages/raw", "/api/build-information"):
        assert requests.get(f"{octopus.url}{path}", headers=auth(octopus), timeout=30).status_code == 404, path
    assert push(octopus, "MyApp.1.0.zip", b"PK one", path="/api/packages/raw").status_code == 201
    ignored = push(octopus, "MyApp.1.0.0.zip", b"PK two", path="/api/packages/raw",
                   query="overwriteMode=OverwriteExisting")
    assert_error(ignored, 409, "already exists")  # overwriteMode is unknown here, and 1.0 is 1.0.0
    replaced = push(octopus, "MyApp.1.0.0.zip", b"PK two", path="/api/packages/raw", query="replace=true")
    assert replaced.status_code == 200 and replaced.json()["Version"] == "1.0.0"
    assert octopus.package_bytes("MyApp", "1.0") == b"PK two"
    bearer = {"Authorization": f"Bearer {octopus.access_token}"}
    assert requests.get(f"{octopus.url}/api/users/me", headers=bearer, timeout=30).status_code == 401


def test_hash_and_raw_knobs_and_a_garbled_answer(octopus: FakeOctopus) -> None:
    octopus.behaviour.package_hash = "upload"
    created = push(octopus, "MyApp.1.0.0.zip", b"PK data")
    assert created.json()["Hash"] == hashlib.sha1(b"PK data").hexdigest()
    single = requests.get(f"{octopus.url}/api/Spaces-1/packages/packages-MyApp.1.0.0", headers=auth(octopus),
                          timeout=30).json()
    assert "Hash" not in single
    raw = requests.get(f"{octopus.url}{single['Links']['Raw']}", headers=auth(octopus), timeout=30)
    assert raw.content == b"PK data"
    octopus.behaviour.raw_downloads = False
    assert requests.get(f"{octopus.url}{single['Links']['Raw']}", headers=auth(octopus), timeout=30).status_code == 404
    octopus.garble_next("upload")
    garbled = push(octopus, "MyApp.2.0.0.zip", b"PK two")
    assert garbled.status_code == 201 and garbled.headers["Content-Type"].startswith("application/json")
    with pytest.raises(ValueError):
        garbled.json()
    assert octopus.package_bytes("MyApp", "2.0.0") == b"PK two"
