"""The network's rough edges, each over plain HTTP and HTTPS: rate limits (429), size limits (413), broken framing,
a trickling server, and the OIDC exchange's retries.

Every test reads what the fake stored and what was said; the pauses between attempts are recorded, not slept.
"""

import logging
import random
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from fake_octopus.generations import use_generation
from fake_octopus.oidc import BitbucketStepTokens
from fixtures_network import Route
from octopus_pack.masking import Secret
from octopus_pack.octopus import client as client_module
from octopus_pack.octopus import push_to_octopus
from octopus_pack.octopus.client import OctopusClient
from octopus_pack.octopus.push import OctopusPush
from octopus_pack.octopus.settings import OidcExchange
from octopus_pack.package_result import PackageResult
from test_octopus_push import write_package
from test_push_faults import ENV, assert_one_copy, failure

HTTP_AND_HTTPS = pytest.mark.parametrize("route", ["http", "https"], indirect=True)
"""Most faults are tried over both; the `route` fixture's default adds both again through tinyproxy."""
FRAMING_FAULTS = ["truncate", "bad-gzip", "bad-chunks"]


@pytest.fixture
def package(tmp_path: Path) -> PackageResult:
    """A package of about 200 KB: big enough that its upload spans many writes, small enough to be quick."""
    return write_package(tmp_path / "MyApp.1.0.0.zip", {"payload.bin": random.Random(19).randbytes(200_000)},
                         "MyApp", "1.0.0")


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses the pipe asked for between attempts, in order; nothing is slept."""
    asked: list[float] = []
    monkeypatch.setattr(OctopusClient, "sleep", staticmethod(asked.append))
    return asked


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


# --- 429 and Retry-After ------------------------------------------------------------------------------------------


@HTTP_AND_HTTPS
def test_a_rate_limited_get_waits_as_retry_after_says(route: Route, package: PackageResult, pauses, logs) -> None:
    route.octopus.rate_limit_next("root", retry_after="7")
    push_to_octopus(route.settings(), package, ENV)
    assert_one_copy(route, package)
    assert [r.status for r in route.octopus.requests_of("root")] == [429, 200]
    assert pauses == [7.0]
    assert "GET /api failed: HTTP 429 (Too many requests. Please try again later.). Trying again in 7 s " \
           "(attempt 2 of 4)." in logs.text
    assert "Retrying (" not in logs.text


@HTTP_AND_HTTPS
def test_a_rate_limited_upload_is_looked_up_then_sent_again(route: Route, package, pauses, logs) -> None:
    route.octopus.rate_limit_next("upload", retry_after="3", times=2)
    push_to_octopus(route.settings(), package, ENV)
    assert_one_copy(route, package)
    assert [r.status for r in route.octopus.requests_of("upload")] == [429, 429, 201]
    assert pauses == [3.0, 3.0]
    assert "Pushing MyApp.1.0.0.zip failed: HTTP 429" in logs.text


class _WallClockAt:
    """The time module, except that the wall clock stands still at `now` (monotonic time still runs)."""

    def __init__(self, now: float) -> None:
        self._now = now

    def time(self) -> float:
        return self._now

    def __getattr__(self, name: str):
        return getattr(time, name)


@HTTP_AND_HTTPS
def test_retry_after_as_an_http_date(route: Route, package, pauses, monkeypatch) -> None:
    now = float(int(time.time()))  # whole seconds, as an HTTP date has
    monkeypatch.setattr(client_module, "time", _WallClockAt(now))  # the client's clock only; the fake keeps its own
    route.octopus.rate_limit_next("spaces", retry_after=formatdate(now + 20, usegmt=True))
    push_to_octopus(route.settings(), package, ENV)
    assert_one_copy(route, package)
    assert pauses == [20]


@HTTP_AND_HTTPS
def test_without_retry_after_the_backoff_applies(route: Route, package, pauses) -> None:
    route.octopus.rate_limit_next("root", retry_after=None, times=2)
    push_to_octopus(route.settings(backoff_factor=1.5), package, ENV)
    assert pauses == [1.5, 3.0]


@HTTP_AND_HTTPS
@pytest.mark.parametrize("kind", ["root", "upload"])
def test_a_retry_after_beyond_the_cap_ends_in_one_line(route: Route, package, pauses, kind: str) -> None:
    route.octopus.rate_limit_next(kind, retry_after="3600")
    message = failure(route, package)
    assert message.startswith(f"OCTOPUS_SERVER {route.octopus.url} is rate-limiting requests and asks to wait "
                              "3,600 s before ")
    assert "the pipe waits at most 30 s between attempts, so it stops here. Run the step again later" in message
    assert pauses == [] and route.octopus.stored_copies("MyApp", "1.0.0") == []


@HTTP_AND_HTTPS
def test_rate_limiting_that_never_ends_is_bounded(route: Route, package, pauses) -> None:
    route.octopus.rate_limit_next("users", retry_after="2", times=None)
    message = failure(route, package)
    assert message == (f"OCTOPUS_SERVER {route.octopus.url} is still rate-limiting requests (HTTP 429 to GET "
                       "/api/users/me) after 4 attempts: run the step again later, or ask the Octopus "
                       "administrator about the rate limit for this account.")
    assert pauses == [2.0, 2.0, 2.0] and len(route.octopus.requests_of("users")) == 4


# --- 413 ------------------------------------------------------------------------------------------------------------


@HTTP_AND_HTTPS
def test_a_package_over_the_servers_limit_names_both_sizes(route: Route, package, pauses) -> None:
    route.octopus.behaviour.max_request_body_size = 100_000
    message = failure(route, package)
    assert message.startswith(f"Octopus refused MyApp.1.0.0.zip ({package.size:,} bytes) as too large: HTTP 413, "
                              "the server accepts at most 100,000 bytes per request")
    assert "webMaxRequestBodySizeInBytes" in message
    assert pauses == [] and route.octopus.stored_copies("MyApp", "1.0.0") == []


# --- framing faults -------------------------------------------------------------------------------------------------


@HTTP_AND_HTTPS
@pytest.mark.parametrize("how", FRAMING_FAULTS)
def test_a_broken_answer_to_a_get_is_asked_again(route: Route, package, pauses, logs, how: str) -> None:
    route.octopus.break_answer_next("root", how=how)
    push_to_octopus(route.settings(), package, ENV)
    assert_one_copy(route, package)
    assert len(route.octopus.requests_of("root")) == 2
    assert "GET /api failed: the connection failed (" in logs.text
    assert "Trying again in 0 s (attempt 2 of 4)" in logs.text


@pytest.mark.parametrize("how", FRAMING_FAULTS)
def test_a_broken_answer_to_an_upload_is_checked_not_sent_again(route: Route, package, logs, how: str) -> None:
    route.octopus.break_answer_next("upload", how=how)
    push_to_octopus(route.settings(), package, ENV)
    assert_one_copy(route, package)
    assert len(route.octopus.requests_of("upload")) == 1
    assert "but the server already has it: nothing more to do." in logs.text


@HTTP_AND_HTTPS
@pytest.mark.parametrize("how", FRAMING_FAULTS)
def test_broken_answers_to_build_information_are_checked(route: Route, package, logs, how: str) -> None:
    route.octopus.break_answer_next("build-information", how=how)
    push_to_octopus(route.settings(push_build_information=True), package, ENV)
    assert len(route.octopus.requests_of("build-information")) == 1
    assert route.octopus.build_information_for("MyApp", "1.0.0") is not None
    assert_one_copy(route, package)


@HTTP_AND_HTTPS
@pytest.mark.parametrize("how", FRAMING_FAULTS)
def test_broken_answers_every_time_end_in_one_line(route: Route, package, how: str) -> None:
    route.octopus.break_answer_next("users", how=how, times=4)
    message = failure(route, package)
    assert message.startswith(f"Cannot reach OCTOPUS_SERVER {route.octopus.url}: ")
    assert "Unexpected" not in message and "object at 0x" not in message


@HTTP_AND_HTTPS
def test_a_reset_answer_to_a_get_is_asked_again(route: Route, package, logs) -> None:
    route.octopus.drop_next("spaces")
    push_to_octopus(route.settings(), package, ENV)
    assert_one_copy(route, package)
    assert len(route.octopus.requests_of("spaces")) == 2


# --- a trickling server and the per-attempt deadline ------------------------------------------------------------------


@HTTP_AND_HTTPS
def test_a_trickled_get_ends_at_the_deadline_and_is_asked_again(route: Route, package, logs) -> None:
    """A byte every 50 ms never trips a 0.5 s read timeout; the attempt's deadline ends it."""
    route.octopus.break_answer_next("root", how="trickle", interval=0.05)
    push_to_octopus(route.settings(timeout=0.5), package, ENV)
    assert_one_copy(route, package)
    assert len(route.octopus.requests_of("root")) == 2
    assert "GET /api failed: the connection failed (no answer before the timeout; OCTOPUS_TIMEOUT is 0.5 s)" \
        in logs.text


def test_a_trickled_upload_answer_is_looked_up(route: Route, package, logs) -> None:
    route.octopus.break_answer_next("upload", how="trickle", interval=0.05)
    push_to_octopus(route.settings(timeout=0.5), package, ENV)
    assert_one_copy(route, package)
    assert len(route.octopus.requests_of("upload")) == 1
    assert "no answer before the timeout; OCTOPUS_TIMEOUT is 0.5 s)), but the server already has it" in logs.text


@HTTP_AND_HTTPS
def test_a_server_that_always_trickles_is_bounded(route: Route, package) -> None:
    route.octopus.break_answer_next("users", how="trickle", interval=0.05, times=4)
    message = failure(route, package, timeout=0.5)
    assert message == (f"Cannot reach OCTOPUS_SERVER {route.octopus.url}: no answer before the timeout"
                       "; OCTOPUS_TIMEOUT is 0.5 s")
    assert len(route.octopus.requests_of("users")) == 4


# --- the OIDC exchange retries like every other request ------------------------------------------------------------


@pytest.fixture(scope="module")
def bitbucket() -> BitbucketStepTokens:
    return BitbucketStepTokens()


def oidc_settings(route: Route, bitbucket: BitbucketStepTokens, **overrides):
    account = route.octopus.add_service_account(bitbucket.issuer, bitbucket.public_key,
                                                f"{bitbucket.repository_uuid}:*")
    credential = OidcExchange(account, Secret(bitbucket.token(audience=account)))
    return route.settings(credential=credential, **overrides)


@HTTP_AND_HTTPS
@pytest.mark.parametrize(("kind", "fault"), [
    ("openid-configuration", "503"), ("openid-configuration", "drop"), ("openid-configuration", "429"),
    ("token-exchange", "503"), ("token-exchange", "drop"), ("token-exchange", "429"), ("token-exchange", "truncate"),
])  # fmt: skip
def test_the_oidc_exchange_is_retried(route: Route, package, bitbucket, pauses, logs, kind: str, fault: str) -> None:
    settings = oidc_settings(route, bitbucket)
    if fault == "503":
        route.octopus.fail_next(kind, status=503)
    elif fault == "429":
        route.octopus.rate_limit_next(kind, retry_after="4")
    elif fault == "drop":
        route.octopus.drop_next(kind)
    else:
        route.octopus.break_answer_next(kind, how=fault)
    push_to_octopus(settings, package, ENV)
    assert_one_copy(route, package)
    assert len(route.octopus.requests_of(kind)) == 2
    assert pauses == ([4.0] if fault == "429" else [0.0])
    assert "Trying again in" in logs.text


@HTTP_AND_HTTPS
def test_oidc_renewals_are_retried_too(route: Route, package, bitbucket, pauses) -> None:
    route.octopus.oidc.access_token_lifetime = 60  # below the margin: a new exchange before every request
    with OctopusPush(oidc_settings(route, bitbucket), ENV) as octopus:
        route.octopus.fail_next("token-exchange", status=502, times=2)
        octopus.push(package)
    statuses = [r.status for r in route.octopus.requests_of("token-exchange")]
    assert statuses.count(502) == 2 and statuses[statuses.index(502) + 2] == 200
    assert pauses == [0.0, 0.0]
    assert_one_copy(route, package)


@HTTP_AND_HTTPS
def test_an_exchange_that_keeps_failing_says_the_server_is_unavailable(route: Route, package, bitbucket,
                                                                       pauses) -> None:
    settings = oidc_settings(route, bitbucket)
    route.octopus.fail_next("token-exchange", status=503, times=None)
    message = failure(route, package, credential=settings.credential)
    assert message == (f"OCTOPUS_SERVER {route.octopus.url} answered the token exchange with HTTP 503 on every "
                       "attempt (OIDC sign-in): the server is unavailable or starting; run the step again later.")
    assert len(route.octopus.requests_of("token-exchange")) == 4 and pauses == [0.0, 0.0, 0.0]
    assert route.octopus.stored_copies("MyApp", "1.0.0") == []


# --- Octopus 2026.1 as a whole: Hash only in upload answers, rate limiting, a request size limit --------------------


@HTTP_AND_HTTPS
def test_a_rate_limited_2026_1_server_gets_the_package_once_and_a_rerun_sends_nothing(route: Route, package,
                                                                                       pauses, logs) -> None:
    use_generation(route.octopus, "2026.1")
    for kind in ("root", "packages", "upload", "build-information", "build-information-read"):
        route.octopus.rate_limit_next(kind, retry_after="5")
    push_to_octopus(route.settings(push_build_information=True), package, ENV)
    assert_one_copy(route, package)
    assert route.octopus.build_information_for("MyApp", "1.0.0") is not None
    assert pauses and set(pauses) == {5.0}
    route.octopus.rate_limit_next("packages", retry_after="2")
    push_to_octopus(route.settings(push_build_information=True), package, ENV)  # a re-run of the same build
    assert_one_copy(route, package)
    assert len(route.octopus.requests_of("upload", method="POST")) == 2  # one 429, one stored
    assert "already holds identical content" in logs.text


@HTTP_AND_HTTPS
def test_a_2026_1_size_limit_ends_in_one_line_without_retries(route: Route, package, pauses) -> None:
    use_generation(route.octopus, "2026.1")
    route.octopus.behaviour.max_request_body_size = 50_000
    message = failure(route, package, delta_compression=False)
    assert "as too large: HTTP 413, the server accepts at most 50,000 bytes per request" in message
    assert len(route.octopus.requests_of("upload")) == 1 and pauses == []


@HTTP_AND_HTTPS
def test_a_rate_limited_delta_waits_then_sends_the_whole_package(route: Route, package, pauses, logs) -> None:
    route.octopus.add_package("MyApp.0.9.0.zip", package.path.read_bytes())  # a base the delta is tiny against
    route.octopus.rate_limit_next("delta-upload", retry_after="3")
    push_to_octopus(route.settings(), package, ENV)
    assert_one_copy(route, package)
    assert [r.status for r in route.octopus.requests_of("delta-upload")] == [429]
    assert pauses == [3.0] and len(route.octopus.requests_of("upload")) == 1
    assert "The delta upload was rate-limited (HTTP 429): uploading the whole package in 3 s instead." in logs.text
