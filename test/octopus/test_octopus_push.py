"""Pushing packages to the fake Octopus server: uploads, overwrite modes, spaces, errors, retries and recovery."""

import dataclasses
import hashlib
import http.server
import logging
import random
import shutil
import socket
import ssl
import subprocess
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_octopus import FakeOctopus
from octopus_pack.config.bitbucket import bitbucket_build_from
from octopus_pack.errors import PipeError
from octopus_pack.octopus import OctopusSettings, OverwriteMode, push_to_octopus
from octopus_pack.octopus.client import OctopusClient
from octopus_pack.octopus.settings import ApiKey
from octopus_pack.package_result import PackageResult

ENV = bitbucket_build_from({"BITBUCKET_BUILD_NUMBER": "42"})


def settings_for(octopus: FakeOctopus, **overrides) -> OctopusSettings:
    """Settings for the fake, with no pauses between retries and only the package pushed."""
    base = OctopusSettings(
        server=octopus.url, credential=ApiKey(octopus.api_key), backoff_factor=0, retries=2,
        push_build_information=False,
    )
    return dataclasses.replace(base, **overrides)


def write_package(path: Path, files: dict[str, bytes], package_id: str, version: str) -> PackageResult:
    """A zip or nupkg (zip plus a nuspec) as the packer would leave it, with its PackageResult."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if path.suffix == ".nupkg":
            nuspec = (f'<?xml version="1.0"?><package><metadata><id>{package_id}</id><version>{version}</version>'
                      "<authors>me</authors><description>test</description></metadata></package>")
            archive.writestr(f"{package_id}.nuspec", nuspec)
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), content)
    data = path.read_bytes()
    return PackageResult(path, package_id, version, path.suffix[1:], len(data), hashlib.sha256(data).hexdigest(),
                         len(files), hashlib.sha1(data).hexdigest())


@pytest.fixture
def package(tmp_path: Path) -> PackageResult:
    return write_package(tmp_path / "MyApp.1.0.0.zip", {"index.html": b"<h1>hello</h1>", "app.js": b"go()"},
                         "MyApp", "1.0.0")


@pytest.fixture
def info_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


# --- uploads ------------------------------------------------------------------------------------------------------


def test_push_zip_stores_the_exact_bytes(octopus, package, info_logs):
    push_to_octopus(settings_for(octopus), package, ENV)
    assert octopus.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()
    assert "Pushed MyApp.1.0.0.zip to Octopus: created" in info_logs.text
    assert "Connected to Octopus Deploy" in info_logs.text
    assert "Using space 'Default' (Spaces-1)" in info_logs.text


def test_push_nupkg_stores_the_exact_bytes(octopus, tmp_path):
    nupkg = write_package(tmp_path / "My.Library.2.1.0-beta.1.nupkg", {"lib/net8.0/My.Library.dll": b"\x00MZ" * 100},
                          "My.Library", "2.1.0-beta.1")
    push_to_octopus(settings_for(octopus), nupkg, ENV)
    assert octopus.package_bytes("My.Library", "2.1.0-beta.1") == nupkg.path.read_bytes()


def test_the_upload_request_is_shaped_like_octo_push(octopus, package):
    push_to_octopus(settings_for(octopus), package, ENV)
    (upload,) = octopus.requests_of("upload")
    assert upload.query == {"overwriteMode": "FailIfExists"}
    assert upload.upload.field_name == "file"
    assert upload.upload.file_name == "MyApp.1.0.0.zip"
    assert upload.upload.content_type == "application/octet-stream"
    assert not upload.chunked and upload.header("content-length") == str(upload.body_size)
    assert upload.header("x-octopus-apikey") == octopus.api_key
    for request in octopus.requests:
        assert request.header("user-agent").startswith("octopus-pack/")
        assert request.header("user-agent").endswith(") BitBucket")
        assert "apikey" not in {name.lower() for name in request.query}
        assert request.header("accept") == "application/json"


def test_outside_bitbucket_the_user_agent_has_no_ci_suffix(octopus, package):
    push_to_octopus(settings_for(octopus), package, bitbucket_build_from({}))
    assert not octopus.requests_of("upload")[0].header("user-agent").endswith("BitBucket")


def test_a_server_under_a_sub_path(make_octopus, package):
    octopus = make_octopus(path_prefix="/octopus")
    push_to_octopus(settings_for(octopus), package, ENV)
    assert octopus.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()
    assert all(r.path.startswith("/octopus/api") for r in octopus.requests)


def test_a_version_with_build_metadata_keeps_its_plus(octopus, tmp_path):
    package = write_package(tmp_path / "MyApp.1.0.0+build.7.zip", {"a": b"a"}, "MyApp", "1.0.0+build.7")
    octopus.add_package("MyApp.0.9.0.zip", b"PK\x05\x06" + b"\x00" * 18)
    push_to_octopus(settings_for(octopus, delta_compression=False), package, ENV)
    assert octopus.package_bytes("MyApp", "1.0.0+build.7") == package.path.read_bytes()


# --- overwrite modes ----------------------------------------------------------------------------------------------


def test_fail_if_exists_refuses_and_names_the_other_modes(octopus, package):
    octopus.add_package("MyApp.1.0.0.zip", b"an older build")
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings_for(octopus), package, ENV)
    message = str(error.value)
    assert "already in Octopus" in message and "OVERWRITE_MODE is FailIfExists" in message
    assert "OVERWRITE_MODE: 'IgnoreIfExists'" in message and "'OverwriteExisting'" in message
    assert "\n" not in message
    assert octopus.package_bytes("MyApp", "1.0.0") == b"an older build"
    assert octopus.requests_of("upload") == []  # refused after the look-up, before any byte went up


def test_old_servers_answering_400_for_duplicates_get_the_same_advice(octopus, package):
    octopus.behaviour.duplicate_package_status = 400
    octopus.add_package("MyApp.1.0.0.zip", b"an older build")
    octopus.fail_next("packages", status=404, times=2)  # as if another run stored it just after our look-up
    with pytest.raises(PipeError, match="OVERWRITE_MODE: 'IgnoreIfExists'"):
        push_to_octopus(settings_for(octopus), package, ENV)


def test_ignore_if_exists_keeps_the_server_copy_and_warns_when_it_differs(octopus, package, info_logs):
    octopus.add_package("MyApp.1.0.0.zip", b"an older build")
    push_to_octopus(settings_for(octopus, overwrite_mode=OverwriteMode.IGNORE_IF_EXISTS), package, ENV)
    assert octopus.package_bytes("MyApp", "1.0.0") == b"an older build"
    assert "was already on the server and was kept" in info_logs.text
    assert "differs from this build" in info_logs.text
    assert octopus.requests_of("upload") == []


@pytest.mark.parametrize("mode", list(OverwriteMode))
def test_identical_content_on_the_server_is_a_success_without_upload(octopus, package, info_logs, mode):
    octopus.add_package("MyApp.1.0.0.zip", package.path.read_bytes())
    push_to_octopus(settings_for(octopus, overwrite_mode=mode), package, ENV)
    assert "Octopus already holds identical content for MyApp.1.0.0.zip" in info_logs.text
    assert "differs" not in info_logs.text
    assert octopus.requests_of("upload") == [] and octopus.requests_of("delta-upload") == []


def test_overwrite_existing_replaces_the_server_copy(octopus, package, info_logs):
    octopus.add_package("MyApp.1.0.0.zip", b"an older build")
    push_to_octopus(settings_for(octopus, overwrite_mode=OverwriteMode.OVERWRITE_EXISTING), package, ENV)
    assert octopus.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()
    assert "replaced the existing package" in info_logs.text


# --- spaces -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("space", ["Team Space", "team space", "Spaces-2", "spaces-2"])
def test_a_space_by_name_or_id(octopus, package, space):
    push_to_octopus(settings_for(octopus, space=space), package, ENV)
    assert octopus.package("MyApp", "1.0.0", space_id="Spaces-2") is not None
    assert octopus.package("MyApp", "1.0.0") is None


def test_a_space_named_like_an_id(octopus, package):
    octopus.add_space("Spaces-99", space_id="Spaces-7")
    push_to_octopus(settings_for(octopus, space="Spaces-99"), package, ENV)
    assert octopus.package("MyApp", "1.0.0", space_id="Spaces-7") is not None


def test_the_default_space_is_the_servers_default(octopus, package):
    octopus.set_default_space("Spaces-2")
    push_to_octopus(settings_for(octopus), package, ENV)
    assert octopus.package("MyApp", "1.0.0", space_id="Spaces-2") is not None


def test_an_unknown_space_lists_the_visible_ones(octopus, package):
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings_for(octopus, space="Teem Space"), package, ENV)
    assert str(error.value) == (
        "OCTOPUS_SPACE 'Teem Space' was not found: the credential can see 'Default' (Spaces-1), "
        "'Team Space' (Spaces-2)."
    )


def test_an_unknown_space_id(octopus, package):
    with pytest.raises(PipeError, match="OCTOPUS_SPACE 'Spaces-404' was not found"):
        push_to_octopus(settings_for(octopus, space="Spaces-404"), package, ENV)


def test_no_default_space_asks_for_one(octopus, package):
    octopus.set_default_space(None)
    with pytest.raises(PipeError, match="no default space: set OCTOPUS_SPACE to one of 'Default'"):
        push_to_octopus(settings_for(octopus), package, ENV)


def test_many_spaces_are_paged_through(octopus, package):
    for n in range(120):
        octopus.add_space(f"Space {n:03}")
    push_to_octopus(settings_for(octopus, space="space 110"), package, ENV)
    assert len(octopus.requests_of("spaces")) == 2


# --- errors -------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_server_fails_fast(package, monkeypatch):
    """Fast is counted, not timed: at most one short pause before the pipe gives up."""
    waits: list[float] = []
    monkeypatch.setattr(OctopusClient, "sleep", staticmethod(waits.append))
    settings = OctopusSettings(server=f"http://127.0.0.1:{free_port()}", credential=ApiKey("API-ABC123"))
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings, package, ENV)
    assert len(waits) <= 1 and sum(waits) <= 1, waits
    assert str(error.value).startswith(f"Cannot reach OCTOPUS_SERVER {settings.server}: ")
    assert "nothing accepts connections on port" in str(error.value) and "(connection refused)" in str(error.value)
    assert "HTTPConnection object" not in str(error.value)


def test_an_unresolvable_host_fails_fast(package, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(OctopusClient, "sleep", staticmethod(waits.append))
    settings = OctopusSettings(server="http://octopus.invalid", credential=ApiKey("API-ABC123"))
    with pytest.raises(PipeError, match=r"Cannot reach OCTOPUS_SERVER http://octopus\.invalid: the host name "
                                         r"octopus\.invalid could not be resolved: check the spelling"):
        push_to_octopus(settings, package, ENV)
    assert len(waits) <= 1 and sum(waits) <= 1, waits


class NotOctopus(http.server.BaseHTTPRequestHandler):
    """Some other web server: a 200 HTML page at /, a redirect under /moved/, and 404 everywhere else."""

    def do_GET(self):
        status, body = (200, b"<html>hello</html>") if self.path == "/" else (404, b"<html>not found</html>")
        if self.path.startswith("/moved/"):
            status, body = 301, b""
        self.send_response(status)
        if status == 301:
            self.send_header("Location", "https://elsewhere.example.com" + self.path[len("/moved"):])
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def web_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotOctopus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_server_that_is_not_octopus(web_server, package):
    settings = OctopusSettings(server=web_server, credential=ApiKey("API-ABC123"), retries=0)
    with pytest.raises(PipeError, match=r"is not an Octopus Deploy server: GET /api answered HTTP 404"):
        push_to_octopus(settings, package, ENV)


def test_a_redirect_is_not_followed_with_the_key(web_server, package):
    settings = OctopusSettings(server=f"{web_server}/moved", credential=ApiKey("API-ABC123"), retries=0)
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings, package, ENV)
    assert str(error.value) == (
        f"OCTOPUS_SERVER {web_server}/moved redirects /api to https://elsewhere.example.com/api: set OCTOPUS_SERVER "
        "to the address it redirects to (the API key is not sent after a redirect)."
    )


def test_a_rejected_key(octopus, package):
    settings = dataclasses.replace(settings_for(octopus), credential=ApiKey("API-NOTTHEKEY1"))
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings, package, ENV)
    assert str(error.value).startswith(f"OCTOPUS_APIKEY was rejected by {octopus.url} (The API key you provided")
    assert "API-NOTTHEKEY1" not in str(error.value)


def test_a_missing_push_permission_is_named(octopus, package):
    key = octopus.add_api_key(without=("BuiltInFeedPush",))
    settings = dataclasses.replace(settings_for(octopus, delta_compression=False), credential=ApiKey(key))
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings, package, ENV)
    assert "may not push MyApp.1.0.0.zip: it lacks the BuiltInFeedPush permission in space 'Default'" in str(
        error.value
    )


def test_a_missing_permission_on_the_delta_route_is_reported_once(octopus, package):
    key = octopus.add_api_key(without=("BuiltInFeedPush",))
    settings = dataclasses.replace(settings_for(octopus), credential=ApiKey(key))
    with pytest.raises(PipeError, match="lacks the BuiltInFeedPush permission"):
        push_to_octopus(settings, package, ENV)


def test_other_refusals_carry_every_server_error(octopus, tmp_path):
    bad = write_package(tmp_path / "MyApp.1.0.0.zipx", {"a": b"a"}, "MyApp", "1.0.0")
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings_for(octopus, delta_compression=False), bad, ENV)
    assert str(error.value) == (
        "Octopus refused MyApp.1.0.0.zipx (HTTP 400): There was a problem with your request. - "
        "The uploaded file isn't in a supported package format."
    )


def test_a_server_error_message_is_kept_on_one_line(octopus, package):
    octopus.fail_next("upload", status=413, message="Request body\ntoo large")
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings_for(octopus, delta_compression=False), package, ENV)
    assert "as too large: HTTP 413 (Request body too large)" in str(error.value) and "\n" not in str(error.value)


# --- retries and recovery -----------------------------------------------------------------------------------------


def test_an_upload_is_retried_after_a_503(octopus, package, info_logs):
    octopus.fail_next("upload", status=503)
    push_to_octopus(settings_for(octopus), package, ENV)
    assert octopus.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()
    assert [r.status for r in octopus.requests_of("upload")] == [503, 201]
    assert "Trying again in 0 s (attempt 2 of 3)" in info_logs.text


def test_a_starting_server_is_waited_for(octopus, package):
    octopus.fail_next("root", status=503, times=2)
    push_to_octopus(settings_for(octopus), package, ENV)
    assert [r.status for r in octopus.requests_of("root")] == [503, 503, 200]


def test_retries_are_bounded(octopus, package):
    octopus.fail_next("upload", status=503, times=None)
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings_for(octopus), package, ENV)
    assert "Could not push MyApp.1.0.0.zip" in str(error.value) and "HTTP 503" in str(error.value)
    assert "after 3 attempts" in str(error.value)
    assert len(octopus.requests_of("upload")) == 3


def test_retries_wait_longer_each_time(octopus, package, monkeypatch):
    waits = []
    monkeypatch.setattr(OctopusClient, "sleep", staticmethod(waits.append))
    octopus.fail_next("upload", status=502, times=3)
    push_to_octopus(settings_for(octopus, retries=3, backoff_factor=1.5), package, ENV)
    assert waits == [1.5, 3.0, 6.0]


def test_a_dropped_connection_after_the_server_stored_the_package(octopus, package, info_logs):
    octopus.drop_next("upload")
    push_to_octopus(settings_for(octopus), package, ENV)
    assert len(octopus.requests_of("upload")) == 1
    assert octopus.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()
    assert "the server already has it" in info_logs.text
    assert octopus.requests_of("packages")[-1].route == "/api/Spaces-1/packages/packages-MyApp.1.0.0"


def test_a_timeout_after_the_server_stored_the_package(octopus, package, info_logs):
    octopus.set_delay("upload", 1.0)
    push_to_octopus(settings_for(octopus, timeout=0.3), package, ENV)
    assert len(octopus.requests_of("upload")) == 1
    assert "no answer before the timeout" in info_logs.text and "the server already has it" in info_logs.text


def test_a_dropped_connection_with_different_bytes_on_the_server_is_retried(octopus, package):
    """The hash check must compare content: a same-named package with other bytes is not a success."""
    octopus.add_package("MyApp.1.0.0.zip", b"an older build")
    octopus.fail_next("upload", status=503)
    push_to_octopus(settings_for(octopus, overwrite_mode=OverwriteMode.OVERWRITE_EXISTING), package, ENV)
    assert [r.status for r in octopus.requests_of("upload")] == [503, 200]
    assert octopus.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()


def test_timeouts_that_never_succeed_suggest_a_longer_timeout(octopus, package):
    octopus.set_delay("upload", 1.0)
    octopus.fail_next("packages", status=404, times=None)
    with pytest.raises(PipeError, match=r"raise OCTOPUS_TIMEOUT \(now 0.3 s\)"):
        push_to_octopus(settings_for(octopus, timeout=0.3, retries=0), package, ENV)


# --- delta compression --------------------------------------------------------------------------------------------


def big_files(seed: int) -> dict[str, bytes]:
    """Enough incompressible content that a one-file change makes a small delta."""
    rng = random.Random(seed)
    return {f"lib/part{n}.bin": rng.randbytes(40_000) for n in range(8)}


def test_delta_push_sends_only_the_difference(octopus, tmp_path, info_logs):
    files = big_files(1)
    first = write_package(tmp_path / "MyApp.1.0.0.zip", files, "MyApp", "1.0.0")
    push_to_octopus(settings_for(octopus), first, ENV)
    files["lib/part3.bin"] = b"changed" + files["lib/part3.bin"][7:]
    second = write_package(tmp_path / "MyApp.1.0.1.zip", files, "MyApp", "1.0.1")
    push_to_octopus(settings_for(octopus), second, ENV)

    assert octopus.package_bytes("MyApp", "1.0.1") == second.path.read_bytes()
    (delta,) = octopus.requests_of("delta-upload")
    assert delta.route == "/api/Spaces-1/packages/MyApp/1.0.0/delta"
    assert delta.query == {"overwriteMode": "FailIfExists"}
    assert delta.upload.file_name == "MyApp.1.0.1.zip" and delta.upload.field_name == "file"
    assert delta.upload.size < second.size // 4
    assert len(octopus.requests_of("upload")) == 1  # only the first version went up whole
    assert f"instead of {second.size / 1000:.1f} kB" in info_logs.text
    assert "uploaded" in info_logs.text and "delta instead of" in info_logs.text


def test_a_delta_that_saves_little_is_not_sent(octopus, tmp_path, info_logs):
    first = write_package(tmp_path / "MyApp.1.0.0.zip", big_files(1), "MyApp", "1.0.0")
    push_to_octopus(settings_for(octopus), first, ENV)
    second = write_package(tmp_path / "MyApp.1.0.1.zip", big_files(2), "MyApp", "1.0.1")
    push_to_octopus(settings_for(octopus), second, ENV)
    assert octopus.requests_of("delta-upload") == []
    assert "more than 95% of the package: uploading the whole package instead" in info_logs.text
    assert octopus.package_bytes("MyApp", "1.0.1") == second.path.read_bytes()


def test_a_failed_delta_upload_falls_back_to_the_whole_package(octopus, tmp_path, info_logs):
    files = big_files(1)
    push_to_octopus(settings_for(octopus), write_package(tmp_path / "MyApp.1.0.0.zip", files, "MyApp", "1.0.0"), ENV)
    files["lib/part0.bin"] = b"x" * 100
    second = write_package(tmp_path / "MyApp.1.0.1.zip", files, "MyApp", "1.0.1")
    octopus.fail_next("delta-upload", status=500, message="Something broke")
    push_to_octopus(settings_for(octopus), second, ENV)
    assert "The delta upload was refused (HTTP 500: Something broke); uploading the whole package" in info_logs.text
    assert octopus.package_bytes("MyApp", "1.0.1") == second.path.read_bytes()


def test_a_delta_the_server_cannot_apply_falls_back(octopus, tmp_path, info_logs):
    files = big_files(1)
    push_to_octopus(settings_for(octopus), write_package(tmp_path / "MyApp.1.0.0.zip", files, "MyApp", "1.0.0"), ENV)
    files["lib/part0.bin"] = b"x" * 100
    second = write_package(tmp_path / "MyApp.1.0.1.zip", files, "MyApp", "1.0.1")
    octopus.fail_next("delta-upload", status=400, message="The delta could not be applied to version 1.0.0")
    push_to_octopus(settings_for(octopus), second, ENV)
    assert "(HTTP 400: The delta could not be applied to version 1.0.0); uploading the whole" in info_logs.text
    assert octopus.package_bytes("MyApp", "1.0.1") == second.path.read_bytes()


def test_a_duplicate_refused_on_the_delta_route_does_not_fall_back(octopus, tmp_path):
    files = big_files(1)
    first = write_package(tmp_path / "MyApp.1.0.0.zip", files, "MyApp", "1.0.0")
    push_to_octopus(settings_for(octopus), first, ENV)
    files["lib/part0.bin"] = b"x" * 100
    octopus.add_package("MyApp.1.0.1.zip", first.path.read_bytes())  # an earlier build of 1.0.1, close enough
    second = write_package(tmp_path / "MyApp.1.0.1.zip", files, "MyApp", "1.0.1")
    octopus.fail_next("packages", status=404, times=2)  # stored by another run just after our look-up
    with pytest.raises(PipeError, match="OVERWRITE_MODE: 'IgnoreIfExists'"):
        push_to_octopus(settings_for(octopus), second, ENV)
    assert len(octopus.requests_of("upload")) == 1


def test_an_unreadable_signature_falls_back(octopus, package, info_logs):
    octopus.add_package("MyApp.0.9.0.zip", b"PK\x05\x06" + b"\x00" * 18)
    octopus.fail_next("delta-signature", status=500, message="no signature today", times=None)
    push_to_octopus(settings_for(octopus), package, ENV)
    assert "Could not get a delta signature (HTTP 500: no signature today)" in info_logs.text
    assert octopus.package_bytes("MyApp", "1.0.0") == package.path.read_bytes()


def test_delta_compression_can_be_turned_off(octopus, package):
    octopus.add_package("MyApp.0.9.0.zip", package.path.read_bytes())
    push_to_octopus(settings_for(octopus, delta_compression=False), package, ENV)
    assert octopus.requests_of("delta-signature") == []


# --- secrets ------------------------------------------------------------------------------------------------------


def test_debug_output_never_contains_the_key(octopus, package, caplog, capfd, tmp_path):
    """Everything a DEBUG run can print (our logs, urllib3's, errors) is free of the key, even on failures."""
    caplog.set_level(logging.DEBUG)
    errors = []
    settings = settings_for(octopus, push_build_information=True, overwrite_mode=OverwriteMode.IGNORE_IF_EXISTS)
    env = dataclasses.replace(ENV, clone_dir=tmp_path, commit="0123456789abcdef0123456789abcdef01234567")
    octopus.fail_next("upload", status=503)
    octopus.drop_next("build-information")
    push_to_octopus(settings, package, env)
    octopus.fail_next("build-information", status=500, message=f"echoing {octopus.api_key} back", times=None)
    rerun = dataclasses.replace(env, build_number="43")  # so the failing push is not mistaken for the first one
    for attempt in (
        lambda: push_to_octopus(dataclasses.replace(settings, overwrite_mode=OverwriteMode.OVERWRITE_EXISTING),
                                package, rerun),
        lambda: push_to_octopus(dataclasses.replace(settings, space="Nope"), package, env),
        lambda: push_to_octopus(dataclasses.replace(settings, server=f"http://127.0.0.1:{free_port()}"), package,
                                env),
    ):
        with pytest.raises(PipeError) as error:
            attempt()
        errors.append(str(error.value))
    output = capfd.readouterr()
    assert "echoing <hidden> back" in errors[0]
    assert "GET /api" in caplog.text  # debug logging really was on
    for text in (caplog.text, output.out, output.err, *errors, repr(settings)):
        assert octopus.api_key not in text


def test_upload_progress_is_logged_as_plain_lines(octopus, tmp_path, info_logs):
    package = write_package(tmp_path / "MyApp.1.0.0.zip", big_files(3), "MyApp", "1.0.0")
    push_to_octopus(settings_for(octopus, progress_interval=0), package, ENV)
    lines = [r.getMessage() for r in info_logs.records if r.getMessage().startswith("Uploading MyApp.1.0.0.zip:")]
    assert lines, "expected progress lines"
    assert all("\r" not in line for line in lines)
    assert lines[-1].startswith(f"Uploading MyApp.1.0.0.zip: {package.size / 1000:.1f} kB of ")
    assert "(100%, " in lines[-1]


def test_memory_stays_flat_whatever_the_package_size(octopus, tmp_path):
    """The upload streams from disk: the peak of Python allocations is far below the package size."""
    path = tmp_path / "Big.1.0.0.zip"
    with path.open("wb") as out:
        for _ in range(32):
            out.write(random.randbytes(1 << 20))
    package = PackageResult(path, "Big", "1.0.0", "zip", path.stat().st_size, "", 1,
                            hashlib.sha1(path.read_bytes()).hexdigest())
    octopus.drop_next("upload")  # also exercise the SHA-1 check after a dropped upload
    tracemalloc.start()
    try:
        push_to_octopus(settings_for(octopus, delta_compression=False), package, ENV)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert octopus.package("Big", "1.0.0").size == package.size
    assert peak < 8 << 20, f"peak {peak} bytes for a {package.size}-byte package"


def test_format_size():
    from octopus_pack.sizes import format_size

    assert [format_size(n) for n in (0, 999, 1_834_000, 212_400_000, 3_500_000_000)] == [
        "0 bytes", "999 bytes", "1.8 MB", "212.4 MB", "3.5 GB",
    ]  # fmt: skip


# --- TLS ----------------------------------------------------------------------------------------------------------


class MinimalOctopus(http.server.BaseHTTPRequestHandler):
    """Just enough of Octopus for the connection check: the root document and the current user."""

    ANSWERS = {  # noqa: RUF012 - read-only table
        "/api": b'{"Application": "Octopus Deploy", "Version": "2024.3", "ApiVersion": "3.0.0", '
        b'"Links": {"Spaces": "/api/spaces"}}',
        "/api/users/me": b'{"Id": "Users-1", "Username": "tls-user"}',
    }

    def do_GET(self):
        body = self.ANSWERS.get(self.path.split("?")[0])
        self.send_response(200 if body else 404)
        body = body or b'{"ErrorMessage": "not here", "Errors": []}'
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An https server on 127.0.0.1 with a freshly made self-signed certificate, and that certificate's path."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MinimalOctopus)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


def test_an_unknown_certificate_authority_points_at_the_ca_bundle(tls_server, package):
    url, _ = tls_server
    settings = OctopusSettings(server=url, credential=ApiKey("API-ABC123"), retries=0)
    with pytest.raises(PipeError) as error:
        push_to_octopus(settings, package, ENV)
    assert str(error.value).startswith(f"The TLS certificate of OCTOPUS_SERVER {url} could not be verified (")
    assert "set OCTOPUS_CA_BUNDLE" in str(error.value)


def test_a_ca_bundle_makes_the_certificate_trusted(tls_server, package, info_logs):
    url, cert = tls_server
    settings = OctopusSettings(server=url, credential=ApiKey("API-ABC123"), retries=0, ca_bundle=cert)
    with pytest.raises(PipeError, match="Could not look up spaces"):  # the minimal server stops there
        push_to_octopus(settings, package, ENV)
    assert "Connected to Octopus Deploy 2024.3" in info_logs.text and "as tls-user" in info_logs.text


def test_skipping_verification_works_and_warns_every_run(tls_server, package, info_logs):
    url, _ = tls_server
    settings = OctopusSettings(server=url, credential=ApiKey("API-ABC123"), retries=0, insecure_skip_tls_verify=True)
    with pytest.raises(PipeError, match="Could not look up spaces"):
        push_to_octopus(settings, package, ENV)
    assert "Connected to Octopus Deploy" in info_logs.text
    warnings = [r.getMessage() for r in info_logs.records if r.levelno == logging.WARNING]
    assert any("OCTOPUS_INSECURE_SKIP_TLS_VERIFY is true" in w for w in warnings)


class SpacelessOctopus(MinimalOctopus):
    """A server from before spaces (2018 and older): no Spaces link, the API directly under /api."""

    ANSWERS = {  # noqa: RUF012 - read-only table
        "/api": b'{"Application": "Octopus Deploy", "Version": "2018.10", "ApiVersion": "3.0.0", "Links": {}}',
        "/api/users/me": b'{"Id": "Users-1", "Username": "old-timer"}',
    }
    posted: list[str] = []  # noqa: RUF012 - shared by the handler instances of one test

    def do_POST(self):
        self.posted.append(self.path)
        self.send_response(418)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def spaceless_server() -> Iterator[str]:
    SpacelessOctopus.posted = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SpacelessOctopus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_server_without_spaces_takes_the_api_under_api(spaceless_server, package):
    settings = OctopusSettings(server=spaceless_server, credential=ApiKey("API-ABC123"), retries=0,
                               push_build_information=False)
    with pytest.raises(PipeError, match=r"Octopus refused MyApp\.1\.0\.0\.zip \(HTTP 418\)"):
        push_to_octopus(settings, package, ENV)
    assert SpacelessOctopus.posted == ["/api/packages/raw?overwriteMode=FailIfExists"]


def test_a_server_without_spaces_refuses_a_space(spaceless_server, package):
    settings = OctopusSettings(server=spaceless_server, credential=ApiKey("API-ABC123"), retries=0, space="Default")
    with pytest.raises(PipeError, match=r"has no spaces: remove OCTOPUS_SPACE"):
        push_to_octopus(settings, package, ENV)
