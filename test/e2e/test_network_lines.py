"""What a user reads when the network is in the way: whole pipe runs (`python3 pipe/pipe.py`) over HTTP and HTTPS,
with secrets in URLs, a server that echoes them, 50,000 spaces, proxies that refuse, and common mistakes.

Each failure is one ✖ line that names the culprit and the fix, with no library internals around it.
"""

import re
from pathlib import Path

import pytest

from fixtures_network import Route, Tinyproxy
from fixtures_pipe import PipeRun, run_pipe_natively

HTTP_AND_HTTPS = pytest.mark.parametrize("route", ["http", "https"], indirect=True)
LIBRARY_INTERNALS = ("Retrying (", "urllib3", "HTTPConnection", "HTTPSConnection", "object at 0x", "Traceback",
                     "Max retries exceeded", "_ssl.c")


def pipe_env(route: Route, **changes: str) -> dict[str, str]:
    return {"ID": "MyApp", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": "src", "OUTPUT_PATH": "out",
            "BITBUCKET_BUILD_NUMBER": "7", "PUSH_BUILD_INFORMATION": "false", **route.pipe_env(),
            **changes}  # fmt: skip


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "index.html").write_text("<h1>hello</h1>")
    return tmp_path


def the_failure(run: PipeRun) -> str:
    """The one ✖ line, after checking that nothing else in the output is a library's."""
    lines = [line for line in run.output.splitlines() if "✖" in line]
    assert len(lines) == 1, run.output
    assert run.returncode == 1
    for internal in LIBRARY_INTERNALS:
        assert internal not in run.output, run.output
    return lines[0]


def with_userinfo(url: str, userinfo: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{userinfo}@{rest}"


# --- secrets in URLs and bounded server text -------------------------------------------------------------------------


@HTTP_AND_HTTPS
def test_credentials_in_octopus_server_are_dropped_and_never_shown(route: Route, workspace: Path) -> None:
    user, password = "deployer-account", "S3cret-Passw0rd"
    route.octopus.fail_next("upload", status=400, message=f"No user {user} with password {password} here")
    env = pipe_env(route, OCTOPUS_SERVER=with_userinfo(route.octopus.url, f"{user}:{password}"), DEBUG="true")
    run = run_pipe_natively(env, workspace)
    line = the_failure(run)
    assert password not in run.output and user not in run.output
    assert "No user <hidden> with password <hidden> here" in line
    warnings = [text for text in run.output.splitlines() if "does not use credentials in its URL" in text]
    assert len(warnings) == 1 and f"Set OCTOPUS_SERVER to {route.octopus.url} " in warnings[0]
    assert f"Connected to Octopus Deploy 2024.3.12741 at {route.octopus.url} as fake-ci." in run.output
    for path in workspace.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes() and user.encode() not in path.read_bytes()
    assert all("authorization" not in r.headers for r in route.octopus.requests)  # no Basic auth from the URL


@HTTP_AND_HTTPS
def test_fifty_thousand_spaces_and_a_huge_error_stay_short(route: Route, workspace: Path) -> None:
    for number in range(3, 50_003):
        route.octopus.add_space(f"Team {number:05d}", space_id=f"Spaces-{number}")
    run = run_pipe_natively(pipe_env(route, OCTOPUS_SPACE="Nowhere"), workspace)
    line = the_failure(run)
    assert re.search(r"OCTOPUS_SPACE 'Nowhere' was not found: the credential can see 'Default' \(Spaces-1\), "
                     r"'Team 00003' \(Spaces-3\), .*'Team 00011' \(Spaces-11\) and 4,990 more", line), line
    assert len(line) < 600 and len(run.output) < 5000
    route.octopus.fail_next("upload", status=400, message="Nope. " + "x" * 1_000_000)
    run = run_pipe_natively(pipe_env(route), workspace)
    line = the_failure(run)
    assert "Nope. xxxx" in line and "more characters]" in line and len(line) < 800


@HTTP_AND_HTTPS
def test_proxy_credentials_never_show(route: Route, workspace: Path, proxy_asking_407: str) -> None:
    variable = "HTTPS_PROXY" if route.transport == "https" else "HTTP_PROXY"
    proxy = with_userinfo(proxy_asking_407, "proxy-user-name:Proxy-Passw0rd")
    run = run_pipe_natively(pipe_env(route, **{variable: proxy}, DEBUG="true"), workspace)
    line = the_failure(run)
    assert "Proxy-Passw0rd" not in run.output and "proxy-user-name" not in run.output
    assert f"(HTTP 407 Proxy Authentication Required): check the user name and password in {variable}." in line


# --- the right culprit -------------------------------------------------------------------------------------------


@HTTP_AND_HTTPS
def test_a_proxy_asking_for_credentials_is_named(route: Route, workspace: Path, proxy_asking_407: str) -> None:
    variable = "HTTPS_PROXY" if route.transport == "https" else "HTTP_PROXY"
    run = run_pipe_natively(pipe_env(route, **{variable: proxy_asking_407}), workspace)
    line = the_failure(run)
    target = route.octopus.url.split("://")[1]
    assert f"The proxy {proxy_asking_407} ({variable}) refused the connection to {target} (HTTP 407 Proxy " \
           f"Authentication Required): give the proxy's user name and password in {variable}, as " \
           "http://user:password@host:port." in line
    assert "not an Octopus Deploy server" not in line
    assert route.octopus.requests == []


@HTTP_AND_HTTPS
def test_a_proxy_that_refuses_is_named(route: Route, workspace: Path, refusing_tinyproxy: Tinyproxy) -> None:
    variable = "HTTPS_PROXY" if route.transport == "https" else "HTTP_PROXY"
    run = run_pipe_natively(pipe_env(route, **{variable: refusing_tinyproxy.url}), workspace)
    line = the_failure(run)
    assert f"The proxy {refusing_tinyproxy.url} ({variable}) refused the connection to " \
           f"{route.octopus.url.split('://')[1]} (HTTP 403" in line
    assert "ask the proxy's administrators to allow" in line and "not an Octopus Deploy server" not in line
    assert route.octopus.requests == []


@HTTP_AND_HTTPS
def test_a_proxy_that_is_not_there_is_named(route: Route, workspace: Path) -> None:
    variable = "HTTPS_PROXY" if route.transport == "https" else "HTTP_PROXY"
    run = run_pipe_natively(pipe_env(route, **{variable: "http://127.0.0.1:9"}), workspace)
    line = the_failure(run)
    assert f"through the proxy http://127.0.0.1:9 ({variable}):" in line and f"check {variable}" in line


@pytest.mark.parametrize("route", ["https"], indirect=True)
def test_a_ca_bundle_that_is_not_pem_is_named(route: Route, workspace: Path) -> None:
    (workspace / "corporate-ca.cer").write_bytes(b"\x30\x82\x03\x0a not PEM at all")
    run = run_pipe_natively(pipe_env(route, OCTOPUS_CA_BUNDLE="corporate-ca.cer"), workspace)
    line = the_failure(run)
    assert "OCTOPUS_CA_BUNDLE 'corporate-ca.cer' could not be read as PEM CA certificates (it holds no PEM " \
           "certificate)" in line
    assert route.octopus.requests == [] and not (workspace / "out").exists()


# --- network failures in one line, with the likely fix -----------------------------------------------------------


@pytest.mark.parametrize("route", ["http"], indirect=True)
def test_https_to_a_plain_http_server_says_use_http(route: Route, workspace: Path) -> None:
    https_url = route.octopus.url.replace("http://", "https://")
    run = run_pipe_natively(pipe_env(route, OCTOPUS_SERVER=https_url), workspace)
    line = the_failure(run)
    port = route.octopus.port
    assert f"OCTOPUS_SERVER {https_url} does not speak TLS on port {port}: the server speaks plain HTTP there, so " \
           f"use {route.octopus.url}, or the port Octopus serves HTTPS on." in line
    assert "WRONG_VERSION_NUMBER" not in run.output


@HTTP_AND_HTTPS
def test_a_refused_port_names_the_port(route: Route, workspace: Path) -> None:
    port = route.octopus.port
    env = pipe_env(route)
    route.octopus.stop()  # the port is free now: nothing listens there
    run = run_pipe_natively(env, workspace)
    line = the_failure(run)
    assert f"nothing accepts connections on port {port} of 127.0.0.1 (connection refused): check the port in " \
           "OCTOPUS_SERVER and that Octopus is running" in line


@HTTP_AND_HTTPS
def test_an_unknown_host_says_so(route: Route, workspace: Path) -> None:
    run = run_pipe_natively(pipe_env(route, OCTOPUS_SERVER=f"{route.transport}://octopus.invalid"), workspace)
    line = the_failure(run)
    assert f"OCTOPUS_SERVER {route.transport}://octopus.invalid: the host name octopus.invalid could not be " \
           "resolved: check the spelling of OCTOPUS_SERVER" in line


@HTTP_AND_HTTPS
def test_retries_are_told_in_our_words(route: Route, workspace: Path) -> None:
    route.octopus.fail_next("users", status=503)
    route.octopus.rate_limit_next("spaces", retry_after="0")
    route.octopus.break_answer_next("root", how="truncate")
    run = run_pipe_natively(pipe_env(route), workspace)
    assert run.returncode == 0, run.output
    assert "WARNING: GET /api failed: the connection failed (the answer was cut short). Trying again in 1 s " \
           "(attempt 2 of 4)." in run.output
    assert "WARNING: GET /api/users/me failed: HTTP 503 (" in run.output
    assert "WARNING: GET /api/spaces failed: HTTP 429 (Too many requests. Please try again later.). Trying again " \
           "in 0 s (attempt 2 of 4)." in run.output
    for internal in LIBRARY_INTERNALS:
        assert internal not in run.output
    assert len(route.octopus.stored_copies("MyApp", "1.0.0")) == 1
