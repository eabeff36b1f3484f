"""The push flow against fakes of each Octopus generation (fake_octopus/generations.py), as a user runs it.

For every generation: a first push (natively, reading the printed lines and package.json), a re-run of the same
build (nothing uploaded), a second version (a delta where the server has delta), OverwriteExisting with other
bytes, and a VERSION written `1.0`. Then the answers that used to fail falsely: no Hash, a 2xx that cannot be
read, the server's own spelling of a version, and a server installed under a sub-path whose links carry it.
"""

import dataclasses
import json
import logging
import random
import subprocess
from pathlib import Path

import pytest
import requests

from fake_octopus import FakeOctopus
from fake_octopus.generations import GENERATIONS, use_generation
from fixtures_pipe import run_pipe_natively
from octopus_pack.config.bitbucket import bitbucket_build_from
from octopus_pack.errors import PipeError
from octopus_pack.octopus import OctopusSettings, OverwriteMode, push_to_octopus
from octopus_pack.octopus.client import OctopusClient
from octopus_pack.octopus.push_result import BuildInformationOutcome, PackageOutcome, Transfer
from octopus_pack.octopus.settings import AccessToken, ApiKey
from octopus_pack.octopus.versions import same_version
from test_octopus_push import write_package

COMMIT = "0123456789abcdef0123456789abcdef01234567"
BUILD = bitbucket_build_from({"BITBUCKET_BUILD_NUMBER": "42", "BITBUCKET_COMMIT": COMMIT,
                              "BITBUCKET_BRANCH": "main", "BITBUCKET_REPO_FULL_NAME": "octo/app"})
WITH_BUILD_INFORMATION = {"2019.9", "2020.4", "2024.1", "2026.1"}
WITH_SPACES = {"2019.4", "2019.9", "2020.4", "2024.1", "2026.1"}
REPLACE_ONLY = {"2018.10", "2019.4"}
NORMALISING = {"2018.10", "2019.4", "2019.9"}


def settings_for(octopus: FakeOctopus, **overrides) -> OctopusSettings:
    base = OctopusSettings(server=octopus.url, credential=ApiKey(octopus.api_key), backoff_factor=0, retries=1)
    return dataclasses.replace(base, **overrides)


def assets(seed: int, count: int = 8) -> dict[str, bytes]:
    """Incompressible files, so that a delta between two versions sharing them is far smaller than the whole."""
    rng = random.Random(seed)
    return {f"asset{i}.bin": rng.randbytes(64 << 10) for i in range(count)}


@pytest.fixture(params=sorted(GENERATIONS))
def generation(request) -> str:
    return request.param


@pytest.fixture
def server(octopus: FakeOctopus, generation: str) -> FakeOctopus:
    use_generation(octopus, generation)
    return octopus


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# --- the flows, per generation ------------------------------------------------------------------------------------


def test_rerun_delta_overwrite_and_short_version(server, generation, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    shared = assets(1)
    first = write_package(tmp_path / "MyApp.1.0.0.zip", {**shared, "app.js": b"v1"}, "MyApp", "1.0.0")
    result = push_to_octopus(settings_for(server), first, BUILD)
    assert server.package_bytes("MyApp", "1.0.0") == first.path.read_bytes()
    assert result.package.outcome is PackageOutcome.UPLOADED and result.package.transfer is Transfer.WHOLE
    (upload,) = server.requests_of("upload")
    assert upload.query == ({"replace": "false"} if generation in REPLACE_ONLY else {"overwriteMode": "FailIfExists"})
    expected_space = "Spaces-1" if generation in WITH_SPACES else None
    assert result.space_id == expected_space
    assert all(("/Spaces-1/" in r.route) == (generation in WITH_SPACES) for r in server.requests_of("upload"))
    if generation in WITH_BUILD_INFORMATION:
        assert server.build_information_for("MyApp", "1.0.0")["VcsCommitNumber"] == COMMIT
        assert result.build_information is BuildInformationOutcome.PUSHED
    else:
        assert server.requests_of("build-information") == [] and server.build_information() == []
        assert result.build_information is BuildInformationOutcome.UNSUPPORTED
        (warning,) = [w for w in warnings_of(caplog) if "build information" in w]
        assert "Octopus 2019.9 or newer" in warning and "PUSH_BUILD_INFORMATION: 'false'" in warning

    # Re-run of the same build: nothing is uploaded, the build information is not sent again.
    server.clear_requests()
    again = push_to_octopus(settings_for(server), first, BUILD)
    assert again.package.outcome is PackageOutcome.IDENTICAL and again.package.bytes_sent == 0
    assert server.requests_of(method="POST") == []
    assert server.stored_copies("MyApp", "1.0.0") == [first.sha1]

    # A second version: a delta against 1.0.0 (every generation here has delta routes).
    second = write_package(tmp_path / "MyApp.1.0.1.zip", {**shared, "app.js": b"v2"}, "MyApp", "1.0.1")
    pushed = push_to_octopus(settings_for(server), second, BUILD)
    assert server.package_bytes("MyApp", "1.0.1") == second.path.read_bytes()
    assert pushed.package.transfer is Transfer.DELTA and 0 < pushed.package.bytes_sent < second.size // 4
    (delta,) = server.requests_of("delta-upload")
    assert delta.query == ({"replace": "false"} if generation in REPLACE_ONLY else {"overwriteMode": "FailIfExists"})

    # OverwriteExisting with other bytes under 1.0.0: replace=true where the server knows only that.
    (tmp_path / "other").mkdir()
    other = write_package(tmp_path / "other" / "MyApp.1.0.0.zip", {"app.js": b"rebuilt"}, "MyApp", "1.0.0")
    server.clear_requests()
    replaced = push_to_octopus(settings_for(server, overwrite_mode=OverwriteMode.OVERWRITE_EXISTING,
                                             delta_compression=False), other, BUILD)
    assert server.package_bytes("MyApp", "1.0.0") == other.path.read_bytes()
    assert replaced.package.outcome is PackageOutcome.UPLOADED
    (upload,) = server.requests_of("upload")
    assert upload.query == ({"replace": "true"} if generation in REPLACE_ONLY
                            else {"overwriteMode": "OverwriteExisting"})

    # VERSION written 1.0: older servers store and answer it as 1.0.0; the push and its re-run still succeed.
    short = write_package(tmp_path / "Short.1.0.zip", {"a.txt": b"short"}, "Short", "1.0")
    assert push_to_octopus(settings_for(server), short, BUILD).package.outcome is PackageOutcome.UPLOADED
    stored = server.package("Short", "1.0")
    assert stored.read_bytes() == short.path.read_bytes()
    assert stored.version == ("1.0.0" if generation in NORMALISING else "1.0")
    assert push_to_octopus(settings_for(server), short, BUILD).package.outcome is PackageOutcome.IDENTICAL
    if generation in WITH_BUILD_INFORMATION:
        assert same_version(server.build_information_for("Short", "1.0")["Version"], "1.0")
    assert "did not confirm" not in caplog.text


def test_first_push_natively_prints_and_leaves_the_push_result(server, generation, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "index.html").write_text("<h1>hi</h1>")
    storage = tmp_path / "storage"
    env = {"ID": "Web", "FORMAT": "zip", "VERSION": "2.0.0", "SOURCE_PATH": "src", "OUTPUT_PATH": "out",
           "OCTOPUS_SERVER": server.url, "OCTOPUS_APIKEY": server.api_key, "BITBUCKET_COMMIT": COMMIT,
           "BITBUCKET_BUILD_NUMBER": "5", "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(storage)}
    run = run_pipe_natively(env, tmp_path)
    assert run.returncode == 0, run.output
    package = tmp_path / "out" / "Web.2.0.0.zip"
    assert server.package_bytes("Web", "2.0.0") == package.read_bytes()
    assert f"Connected to Octopus Deploy {GENERATIONS[generation].behaviour['server_version']}" in run.output
    warned = "Octopus 2019.9 or newer adds it" in run.output
    assert warned == (generation not in WITH_BUILD_INFORMATION)
    outputs = json.loads((storage / "octopus-pack" / "package.json").read_text())
    assert outputs["OCTOPUS_PUSH_PACKAGE"] == "uploaded" and outputs["OCTOPUS_PUSH_TRANSFER"] == "whole"
    assert outputs["OCTOPUS_PUSH_BYTES_SENT"] == str(package.stat().st_size)
    assert outputs["OCTOPUS_PUSH_BUILD_INFORMATION"] == (
        "pushed" if generation in WITH_BUILD_INFORMATION else "unsupported")
    space = "Spaces-1/" if generation in WITH_SPACES else ""
    assert outputs["OCTOPUS_PUSH_PACKAGE_URL"] == (
        f"{server.url}/app#/{space}library/builtinrepository/versions/Web")
    assert outputs["OCTOPUS_PUSH_SPACE_ID"] == ("Spaces-1" if generation in WITH_SPACES else "")
    assert outputs["OCTOPUS_PUSH_SPACE_NAME"] == ("Default" if generation in WITH_SPACES else "")
    env_file = (storage / "octopus-pack" / "package.env").read_text()
    assert "export OCTOPUS_PUSH_PACKAGE=uploaded\n" in env_file and "export OCTOPUS_PACK_ID=Web\n" in env_file


def test_ignore_if_exists_on_a_replace_only_server_warns_and_never_overwrites(octopus, tmp_path, caplog):
    use_generation(octopus, "2019.4")
    octopus.add_package("MyApp.1.0.0.zip", b"PK\x05\x06" + b"\x00" * 18)
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"new"}, "MyApp", "1.0.0")
    result = push_to_octopus(settings_for(octopus, overwrite_mode=OverwriteMode.IGNORE_IF_EXISTS), package, BUILD)
    assert result.package.outcome is PackageOutcome.KEPT
    assert octopus.package_bytes("MyApp", "1.0.0") == b"PK\x05\x06" + b"\x00" * 18
    assert octopus.requests_of("upload") == []


def test_an_access_token_works_from_2024_1_and_is_refused_in_one_line_before(server, generation, tmp_path):
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    settings = OctopusSettings(server=server.url, credential=AccessToken(server.access_token), retries=0)
    if generation in ("2024.1", "2026.1"):
        push_to_octopus(settings, package, BUILD)
        assert server.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()
        assert all(r.header("authorization") == f"Bearer {server.access_token}" for r in server.requests_of("upload"))
        return
    with pytest.raises(PipeError, match="OCTOPUS_ACCESS_TOKEN was rejected") as error:
        push_to_octopus(settings, package, BUILD)
    assert len(str(error.value).splitlines()) == 1
    assert server.packages() == []


def test_without_delta_links_the_whole_package_goes_with_one_info_line(octopus, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    octopus.behaviour.delta_enabled = False
    octopus.add_package("MyApp.0.9.0.zip", b"PK\x05\x06" + b"\x00" * 18)
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    result = push_to_octopus(settings_for(octopus), package, BUILD)
    assert result.package.transfer is Transfer.WHOLE
    assert octopus.requests_of("delta-signature") == [] and octopus.requests_of("delta-upload") == []
    assert caplog.text.count("offers no delta upload") == 1
    assert octopus.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()


# --- answers without Hash, unreadable answers, the server's spelling ---------------------------------------------


def test_without_hash_identity_is_read_from_the_stored_file(octopus, tmp_path, caplog):
    octopus.behaviour.package_hash = "never"
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    assert push_to_octopus(settings_for(octopus), package, BUILD).package.outcome is PackageOutcome.UPLOADED
    assert octopus.stored_copies("MyApp", "1.0.0") == [package.sha1]
    assert push_to_octopus(settings_for(octopus), package, BUILD).package.outcome is PackageOutcome.IDENTICAL
    raw_reads = [r for r in octopus.requests_of("packages") if r.route.endswith("/raw")]
    assert raw_reads and all(r.status == 200 for r in raw_reads)
    assert octopus.stored_copies("MyApp", "1.0.0") == [package.sha1]


def test_without_hash_or_the_file_a_rerun_says_what_could_not_be_verified(octopus, tmp_path):
    octopus.behaviour.package_hash = "never"
    octopus.behaviour.raw_downloads = False
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    octopus.add_package("MyApp.1.0.0.zip", package.path)
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings_for(octopus, push_build_information=False), package, BUILD)
    message = str(error.value)
    assert "could not be verified" in message and message.startswith("MyApp.1.0.0.zip is already in Octopus")
    assert octopus.requests_of("upload") == []


def test_without_hash_or_the_file_ignore_if_exists_keeps_it_and_says_so(octopus, tmp_path, caplog):
    octopus.behaviour.package_hash = "never"
    octopus.behaviour.raw_downloads = False
    octopus.add_package("MyApp.1.0.0.zip", b"PK\x05\x06" + b"\x00" * 18)
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    settings = settings_for(octopus, push_build_information=False, overwrite_mode=OverwriteMode.IGNORE_IF_EXISTS)
    assert push_to_octopus(settings, package, BUILD).package.outcome is PackageOutcome.KEPT
    assert any("could not be verified" in w for w in warnings_of(caplog))


def test_an_upload_answer_without_hash_and_no_way_to_check_is_never_success(octopus, tmp_path):
    octopus.behaviour.package_hash = "never"
    octopus.behaviour.raw_downloads = False
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    with pytest.raises(PipeError, match="reports no Hash"):
        push_to_octopus(settings_for(octopus, push_build_information=False), package, BUILD)
    assert octopus.stored_copies("MyApp", "1.0.0") == [package.sha1]  # stored, but we could not know it


@pytest.mark.parametrize("kind", ["upload", "build-information"])
def test_an_unreadable_2xx_is_checked_by_a_look_up(octopus, tmp_path, caplog, kind):
    caplog.set_level(logging.INFO)
    octopus.garble_next(kind)
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    result = push_to_octopus(settings_for(octopus, delta_compression=False), package, BUILD)
    assert octopus.stored_copies("MyApp", "1.0.0") == [package.sha1]
    assert octopus.build_information_for("MyApp", "1.0.0")["VcsCommitNumber"] == COMMIT
    assert result.package.outcome is PackageOutcome.UPLOADED
    assert result.build_information is BuildInformationOutcome.PUSHED
    assert "could not be read" in caplog.text
    assert len(octopus.requests_of(kind, "POST")) == 1


def test_an_unreadable_2xx_the_look_up_cannot_confirm_fails_in_one_line(octopus, tmp_path):
    octopus.garble_next("upload")
    octopus.fail_next("packages", status=404, times=None)  # the server will not show what it holds
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    expected = r"^Octopus did not confirm the upload of MyApp\.1\.0\.0\.zip: HTTP 201"
    with pytest.raises(PipeError, match=expected) as error:
        push_to_octopus(settings_for(octopus, push_build_information=False), package, BUILD)
    assert len(str(error.value).splitlines()) == 1


def test_an_unreadable_2xx_for_other_bytes_is_not_taken_for_ours(octopus, tmp_path, caplog):
    """IgnoreIfExists: the server keeps another build's file and says so in an answer we cannot read."""
    octopus.add_package("MyApp.1.0.0.zip", b"PK\x05\x06" + b"\x00" * 18)
    octopus.fail_next("packages", status=503, times=1)  # the look-up before the upload cannot say
    octopus.garble_next("upload")
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    settings = settings_for(octopus, overwrite_mode=OverwriteMode.IGNORE_IF_EXISTS, push_build_information=False,
                            retries=0, delta_compression=False)
    result = push_to_octopus(settings, package, BUILD)
    assert result.package.outcome is PackageOutcome.KEPT
    assert octopus.package_bytes("MyApp", "1.0.0") == b"PK\x05\x06" + b"\x00" * 18
    assert any("its content differs from this build" in w for w in warnings_of(caplog))


def test_the_servers_own_spelling_of_a_version_is_accepted(octopus, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    octopus.behaviour.normalised_versions = True
    package = write_package(tmp_path / "MyApp.2.1.zip", {"a": b"a"}, "MyApp", "2.1")
    result = push_to_octopus(settings_for(octopus), package, BUILD)
    assert result.package.outcome is PackageOutcome.UPLOADED
    assert octopus.package("MyApp", "2.1").version == "2.1.0"
    assert octopus.build_information_for("MyApp", "2.1")["Version"] == "2.1.0"
    octopus.clear_requests()
    assert push_to_octopus(settings_for(octopus), package, BUILD).package.outcome is PackageOutcome.IDENTICAL
    assert octopus.requests_of(method="POST") == []


@pytest.mark.parametrize(("left", "right", "same"), [
    ("1.0", "1.0.0", True), ("1.0.0.0", "1.0", True), ("1.0.0-Beta.1", "1.0-beta.1", True),
    ("1.0.0+build.5", "1.0.0", True), ("1.0.0-beta.01", "1.0.0-beta.1", True), ("1.0.1", "1.0", False),
    ("1.0.0-beta", "1.0.0", False), ("1.0.0-beta.2", "1.0.0-beta.1", False), (None, "1.0", False),
])  # fmt: skip
def test_version_equality_follows_nuget(left, right, same):
    assert same_version(left, right) is same


# --- links --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("link", "url"), [
    ("/octopus/api/Spaces-1/packages/raw", "http://h:1/octopus/api/Spaces-1/packages/raw"),  # as Octopus.Client
    ("/api/Spaces-1/packages/raw", "http://h:1/octopus/api/Spaces-1/packages/raw"),  # a proxy that strips the path
    ("~/api/users/me", "http://h:1/octopus/api/users/me"),
])  # fmt: skip
def test_links_are_qualified_against_a_sub_path_as_octopus_client_does(link, url):
    client = OctopusClient(OctopusSettings(server="http://h:1/octopus", credential=ApiKey("API-X")), "test")
    assert client.url(link) == url


@pytest.mark.parametrize("prefixed_links", [True, False], ids=["links-carry-the-sub-path", "links-without-it"])
@pytest.mark.parametrize("generation", ["2018.10", "2026.1"])
def test_a_server_under_a_sub_path_follows_its_links(make_octopus, tmp_path, generation, prefixed_links):
    octopus = make_octopus(path_prefix="/octopus")
    use_generation(octopus, generation)
    octopus.behaviour.prefixed_links = prefixed_links
    assert requests.get(f"{octopus.url}/api", timeout=30).json()["Links"]["PackageUpload"].startswith(
        "/octopus/api/" if prefixed_links else "/api/")
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    push_to_octopus(settings_for(octopus), package, BUILD)
    assert octopus.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()
    assert all(r.path.startswith("/octopus/api") for r in octopus.requests)


def test_another_space_never_uses_the_default_spaces_links(octopus, tmp_path):
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    push_to_octopus(settings_for(octopus, space="Team Space"), package, BUILD)
    assert octopus.package_bytes("MyApp", "1.0.0", space_id="Spaces-2") == package.path.read_bytes()
    assert octopus.package("MyApp", "1.0.0") is None
    assert all("Spaces-1" not in r.route for r in octopus.requests)


# --- build information only with a build to describe (issue 18 item 4) --------------------------------------------


def test_without_a_commit_build_information_is_skipped_with_one_info_line(octopus, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    outside = bitbucket_build_from({}, working_dir=tmp_path)
    result = push_to_octopus(settings_for(octopus), package, outside)
    assert result.build_information is BuildInformationOutcome.NO_COMMIT
    assert octopus.requests_of("build-information") == [] and octopus.build_information() == []
    assert octopus.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()
    assert caplog.text.count("there is no commit to describe") == 1
    assert not warnings_of(caplog)


def test_only_known_facts_are_sent(octopus, tmp_path):
    clone = tmp_path / "clone"
    clone.mkdir()
    git = ["git", "-C", str(clone), "-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (clone / "a.txt").write_text("a")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "Only commit"], check=True)
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    push_to_octopus(settings_for(octopus), package, bitbucket_build_from({}, working_dir=clone))
    (post,) = octopus.requests_of("build-information", "POST")
    info = post.json["OctopusBuildInformation"]
    assert set(info) == {"BuildEnvironment", "VcsType", "VcsCommitNumber", "Commits"}
    assert None not in info.values()
    assert [c["Comment"].strip() for c in info["Commits"]] == ["Only commit"]


def test_the_generation_table_is_in_docs():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "pushing.md").read_text()
    assert "## Octopus server versions" in docs
    for name in GENERATIONS:
        assert f"| {name} " in docs, name
    for variable in ("OCTOPUS_PUSH_PACKAGE", "OCTOPUS_PUSH_TRANSFER", "OCTOPUS_PUSH_BYTES_SENT",
                     "OCTOPUS_PUSH_BUILD_INFORMATION", "OCTOPUS_PUSH_SPACE_ID", "OCTOPUS_PUSH_PACKAGE_URL"):
        assert variable in docs, variable


@pytest.mark.parametrize("generation", ["2018.10", "2020.4"])
def test_oidc_on_a_server_before_it_names_the_version_needed(octopus, tmp_path, generation):
    from octopus_pack.masking import Secret
    from octopus_pack.octopus.settings import OidcExchange

    use_generation(octopus, generation)
    package = write_package(tmp_path / "MyApp.1.0.0.zip", {"a": b"a"}, "MyApp", "1.0.0")
    credential = OidcExchange("ServiceAccounts-1", Secret("header.payload.signature"))
    settings = OctopusSettings(server=octopus.url, credential=credential, retries=0)
    with pytest.raises(PipeError, match=r"OIDC needs Octopus 2024\.1 or newer"):
        push_to_octopus(settings, package, BUILD)
    assert octopus.packages() == []
