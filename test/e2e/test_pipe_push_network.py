"""Whole pipe runs (`python3 pipe/pipe.py`) over each route to the fake Octopus: exit codes, ✖ lines, masking."""

from pathlib import Path

import pytest

from fixtures_network import Route
from fixtures_pipe import PipeRun, run_pipe_natively


def pipe_env(route: Route, **changes: str) -> dict[str, str]:
    return {"ID": "MyApp", "FORMAT": "zip", "VERSION": "1.0.0", "SOURCE_PATH": "src", "OUTPUT_PATH": "out",
            "BITBUCKET_BUILD_NUMBER": "7", **route.pipe_env(), **changes}  # fmt: skip


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "index.html").write_text("<h1>hello</h1>")
    return tmp_path


def failure_lines(run: PipeRun) -> list[str]:
    return [line for line in run.output.splitlines() if "✖" in line]


def test_a_push_succeeds_over_every_route(route: Route, workspace: Path) -> None:
    run = run_pipe_natively(pipe_env(route), workspace)
    assert run.returncode == 0, run.output
    assert route.octopus.package_bytes("MyApp", "1.0.0") == (workspace / "out" / "MyApp.1.0.0.zip").read_bytes()
    assert len(route.octopus.stored_copies("MyApp", "1.0.0")) == 1
    if route.proxy:
        assert f"through the proxy {route.proxy.url}" in run.output
        seen = route.proxy.log_text()
        assert route.octopus.url.split("://")[1] in seen
        if route.transport == "https-proxy":  # the proxy only relays the tunnel: it never sees the key
            assert "CONNECT 127.0.0.1:" in seen and route.octopus.api_key not in seen


@pytest.mark.parametrize("route", ["http-proxy", "https-proxy"], indirect=True)
def test_no_proxy_bypasses_the_proxy(route: Route, workspace: Path) -> None:
    run = run_pipe_natively(pipe_env(route, NO_PROXY="localhost,127.0.0.1"), workspace)
    assert run.returncode == 0, run.output
    assert "through the proxy" not in run.output
    assert f"{route.octopus.url.split('://')[1]}/api/Spaces-1/packages/raw" not in route.proxy.log_text()


def test_an_html_200_ends_in_one_line(route: Route, workspace: Path) -> None:
    route.octopus.answer_html_next("upload")
    run = run_pipe_natively(pipe_env(route, PUSH_BUILD_INFORMATION="false"), workspace)
    assert run.returncode == 1
    (line,) = failure_lines(run)
    assert "Octopus did not confirm the upload of MyApp.1.0.0.zip: HTTP 200 came back as text/html" in line
    assert "Traceback" not in run.output
    assert route.octopus.stored_copies("MyApp", "1.0.0") == []


def test_the_key_echoed_in_user_and_space_names_is_masked(route: Route, workspace: Path) -> None:
    key = "API-ECHOEDBACK4242"
    route.octopus.add_api_key(key=key, username=key)
    route.octopus.add_space(f"{key} team", space_id="Spaces-3", is_default=True)
    route.octopus.fail_next("upload", status=400, message=f"Key {key} may not upload today")
    run = run_pipe_natively(pipe_env(route, OCTOPUS_APIKEY=key, DEBUG="true"), workspace)
    assert key not in run.output
    assert "as <hidden>" in run.output and "Using space '<hidden> team' (Spaces-3)" in run.output
    (line,) = failure_lines(run)
    assert "Key <hidden> may not upload today" in line and run.returncode == 1


@pytest.mark.parametrize("route", ["https", "https-proxy"], indirect=True)
def test_an_unknown_ca_is_the_only_certificate_problem(route: Route, workspace: Path) -> None:
    env = {k: v for k, v in pipe_env(route).items() if k != "OCTOPUS_CA_BUNDLE"}
    run = run_pipe_natively(env, workspace)
    (line,) = failure_lines(run)
    assert f"The TLS certificate of OCTOPUS_SERVER {route.octopus.url} could not be verified" in line
    assert "certificate verify failed" in line and "set OCTOPUS_CA_BUNDLE" in line
    assert route.octopus.requests == []  # the key never left: the handshake failed first
