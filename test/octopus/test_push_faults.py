"""Network faults while pushing, each over plain HTTP, HTTPS (a CA of the tests' own), and both through tinyproxy.

Every test ends in one of two ways: the fake holds exactly one stored copy of our bytes (no second upload),
or nothing is stored and the push fails with one line that says what happened.
"""

import hashlib
import logging
import random
import zipfile
from pathlib import Path

import pytest

from fixtures_network import Route
from octopus_pack.config.bitbucket import bitbucket_build_from
from octopus_pack.errors import PipeError
from octopus_pack.octopus import OverwriteMode, push_to_octopus
from octopus_pack.package_result import PackageResult

ENV = bitbucket_build_from({"BITBUCKET_BUILD_NUMBER": "42"})
CUT_AFTER = 64 * 1024


@pytest.fixture
def package(tmp_path: Path) -> PackageResult:
    """A 256 KiB package that does not compress, so a cut after 64 KiB falls in the middle of the upload."""
    path = tmp_path / "MyApp.1.0.0.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("payload.bin", random.Random(7).randbytes(256 * 1024))
    data = path.read_bytes()
    return PackageResult(path, "MyApp", "1.0.0", "zip", len(data), hashlib.sha256(data).hexdigest(), 1,
                         hashlib.sha1(data).hexdigest())


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def sha1(package: PackageResult) -> str:
    return hashlib.sha1(package.path.read_bytes()).hexdigest()


def assert_one_copy(route: Route, package: PackageResult, space_id: str = "Spaces-1") -> None:
    assert route.octopus.stored_copies("MyApp", "1.0.0", space_id=space_id) == [sha1(package)]
    assert route.octopus.package_bytes("MyApp", "1.0.0", space_id=space_id) == package.path.read_bytes()


def failure(route: Route, package: PackageResult, **settings) -> str:
    with pytest.raises(PipeError) as error:
        push_to_octopus(route.settings(**settings), package, ENV)
    message = str(error.value)
    assert "\n" not in message and route.octopus.api_key not in message
    return message


def test_a_plain_push(route: Route, package: PackageResult) -> None:
    push_to_octopus(route.settings(), package, ENV)
    assert_one_copy(route, package)
    if route.proxy:
        host_port = route.octopus.url.split("://")[1]
        verb = "CONNECT" if route.transport == "https-proxy" else "GET"
        assert f"{verb} {'' if verb == 'CONNECT' else 'http://'}{host_port}" in route.proxy.log_text()


@pytest.mark.parametrize("how", ["reset", "close"])
def test_a_cut_mid_upload_is_retried_after_a_look_up(route: Route, package, logs, how: str) -> None:
    route.octopus.cut_next("upload", after_bytes=CUT_AFTER, how=how)
    push_to_octopus(route.settings(), package, ENV)
    assert_one_copy(route, package)
    first, second = route.octopus.requests_of("upload")
    assert first.dropped and first.body_size < package.size and second.status == 201
    assert "Trying again" in logs.text and "certificate" not in logs.text


def test_cuts_on_every_attempt_end_in_one_line(route: Route, package) -> None:
    route.octopus.cut_next("upload", after_bytes=CUT_AFTER, times=4)
    message = failure(route, package)
    assert message.startswith(f"Could not push MyApp.1.0.0.zip to {route.octopus.url}: the connection failed (")
    assert message.endswith("after 4 attempts.") and "certificate" not in message
    assert route.octopus.stored_copies("MyApp", "1.0.0") == []


@pytest.mark.parametrize("mode", list(OverwriteMode))
def test_stored_then_dropped_is_not_uploaded_again(route: Route, package, logs, mode: OverwriteMode) -> None:
    if mode is not OverwriteMode.FAIL_IF_EXISTS:
        route.octopus.add_package("MyApp.1.0.0.zip", b"an older build")
    route.octopus.drop_next("upload")
    push_to_octopus(route.settings(overwrite_mode=mode), package, ENV)
    if mode is OverwriteMode.IGNORE_IF_EXISTS:  # the older copy is kept and nothing is uploaded
        assert route.octopus.requests_of("upload") == []
        assert route.octopus.package_bytes("MyApp", "1.0.0") == b"an older build"
        return
    assert_one_copy(route, package)
    assert len(route.octopus.requests_of("upload")) == 1
    assert "the server already has it" in logs.text


def test_5xx_three_times_then_success(route: Route, package) -> None:
    route.octopus.fail_next("upload", status=503, times=3)
    push_to_octopus(route.settings(), package, ENV)
    assert_one_copy(route, package)
    assert [r.status for r in route.octopus.requests_of("upload")] == [503, 503, 503, 201]


def test_5xx_on_every_attempt_end_in_one_line(route: Route, package) -> None:
    route.octopus.fail_next("upload", status=502, times=None)
    message = failure(route, package)
    assert "HTTP 502" in message and message.endswith("after 4 attempts.")
    assert route.octopus.stored_copies("MyApp", "1.0.0") == []


def test_a_reply_slower_than_the_timeout(route: Route, package, logs) -> None:
    route.octopus.set_delay("upload", 1.5)  # the fake stores the package, then waits before answering
    push_to_octopus(route.settings(timeout=0.4), package, ENV)
    assert_one_copy(route, package)
    assert len(route.octopus.requests_of("upload")) == 1
    assert "no answer before the timeout" in logs.text and "the server already has it" in logs.text


def test_an_html_200_is_not_a_success(route: Route, package) -> None:
    route.octopus.answer_html_next("upload")
    message = failure(route, package)
    assert message.startswith("Octopus did not confirm the upload of MyApp.1.0.0.zip: HTTP 200 came back as "
                              "text/html; charset=utf-8 starting 'Sign in - Corporate Proxy Please sign in")
    assert "a proxy, firewall or sign-in page answered instead of Octopus" in message
    assert route.octopus.stored_copies("MyApp", "1.0.0") == []


def test_an_html_200_for_build_information_stops_before_the_package(route: Route, package) -> None:
    route.octopus.answer_html_next("build-information")
    message = failure(route, package, push_build_information=True)
    assert message.startswith("Octopus did not confirm the build information for MyApp 1.0.0: HTTP 200 came back "
                              "as text/html")
    assert message.endswith("MyApp.1.0.0.zip was not pushed: build information goes first, so that a release "
                            "created by the package push includes it.")
    assert route.octopus.requests_of("upload") == [] and route.octopus.build_information() == []


def test_endless_spaces_paging_ends(route: Route, package) -> None:
    route.octopus.behaviour.endless_spaces_paging = True
    push_to_octopus(route.settings(space="Team Space"), package, ENV)
    assert_one_copy(route, package, space_id="Spaces-2")
    assert len(route.octopus.requests_of("spaces")) == 2  # the second page brought nothing new


def test_build_information_goes_before_the_package(route: Route, package) -> None:
    push_to_octopus(route.settings(push_build_information=True), package, ENV)
    kinds = [r.kind for r in route.octopus.requests if r.kind in ("build-information", "upload")]
    assert kinds == ["build-information", "upload"]
    assert_one_copy(route, package)


def test_a_rerun_uploads_nothing(route: Route, package, logs) -> None:
    push_to_octopus(route.settings(push_build_information=True), package, ENV)
    push_to_octopus(route.settings(push_build_information=True), package, ENV)
    assert_one_copy(route, package)
    assert len(route.octopus.requests_of("upload")) == 1 and len(route.octopus.requests_of("build-information")) == 1


def test_a_server_that_only_knows_the_packages_resource_id(route: Route, package, logs) -> None:
    """The issue's server: GET packages/{id}.{version} is 404, only packages-{id}.{version} answers."""
    route.octopus.behaviour.bare_package_ids = False
    route.octopus.drop_next("upload")
    push_to_octopus(route.settings(overwrite_mode=OverwriteMode.OVERWRITE_EXISTING), package, ENV)
    assert_one_copy(route, package)
    push_to_octopus(route.settings(), package, ENV)  # a re-run under FailIfExists
    assert len(route.octopus.requests_of("upload")) == 1
