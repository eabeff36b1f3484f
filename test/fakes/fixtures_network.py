"""Fixtures for the network between the pipe and Octopus: a CA of the tests' own, HTTPS fakes, a real proxy.

- `test_ca`: a trustme CA made for this test session; `ca_bundle` is its PEM file (for OCTOPUS_CA_BUNDLE).
- `make_https_octopus(**options)`: a FakeOctopus speaking HTTPS with a certificate for 127.0.0.1 from that CA.
- `tinyproxy`: Debian's tinyproxy on 127.0.0.1, started once per session from a config of our own
  (all CONNECT ports allowed, its log in a temporary folder), stopped by its PID at the end.
- `refusing_tinyproxy`: another tinyproxy whose policy answers 403 to CONNECT and to plain requests.
- `proxy_asking_407`: the URL of a tiny proxy that answers every request, CONNECT or plain, with 407.
- `route`: one fake Octopus reached one way, parametrized over http, https, http via the proxy and
  https via the proxy (CONNECT), with in-process settings and the pipe's environment for that way.
"""

import contextlib
import dataclasses
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from fake_octopus import FakeOctopus
from octopus_pack.octopus.settings import ApiKey, OctopusSettings, Proxy

TRANSPORTS = ("http", "https", "http-proxy", "https-proxy")


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    return trustme.CA(organization_name="octopus-pack tests")


@pytest.fixture(scope="session")
def ca_bundle(test_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "test-ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def server_tls(test_ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 and localhost, signed by the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def make_https_octopus(
    server_tls: ssl.SSLContext, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., FakeOctopus]]:
    started: list[FakeOctopus] = []

    def make(**options) -> FakeOctopus:
        fake = FakeOctopus(storage_root=tmp_path_factory.getbasetemp(), tls=server_tls, **options).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


@dataclass
class Tinyproxy:
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tinyproxy_binary() -> str:
    binary = shutil.which("tinyproxy") or next(
        (p for p in ("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy") if os.access(p, os.X_OK)), None
    )
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("tinyproxy is missing: `python3 dev.py test` installs it as root (apt-get install tinyproxy)")
        pytest.skip("needs tinyproxy (apt-get install -y tinyproxy)")
    return binary


@contextlib.contextmanager
def _running_tinyproxy(folder: Path, extra_config: str = "") -> Iterator[Tinyproxy]:
    binary = _tinyproxy_binary()
    port = _free_port()
    log = folder / "tinyproxy.log"
    config = folder / "tinyproxy.conf"
    config.write_text(
        f'Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nLogFile "{log}"\nPidFile "{folder / "tinyproxy.pid"}"\n'
        "LogLevel Info\nMaxClients 100\nTimeout 120\n" + extra_config  # no ConnectPort line: CONNECT to any port
    )
    process = subprocess.Popen([binary, "-d", "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"tinyproxy did not start: {log.read_text() if log.exists() else 'no log'}")
                time.sleep(0.05)
        yield Tinyproxy(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def tinyproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    with _running_tinyproxy(tmp_path_factory.mktemp("tinyproxy")) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def refusing_tinyproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    """A tinyproxy whose policy refuses everything: CONNECT only to port 1, and a deny-by-default URL filter."""
    folder = tmp_path_factory.mktemp("refusing-tinyproxy")
    (folder / "filter").write_text("^nothing-matches-this$\n")
    extra = f'ConnectPort 1\nFilter "{folder / "filter"}"\nFilterDefaultDeny Yes\nFilterURLs On\n'
    with _running_tinyproxy(folder, extra) as proxy:
        yield proxy


class _ProxyAsking407(socketserver.BaseRequestHandler):
    """Answers every request, CONNECT or plain, with 407 as an authenticating proxy does."""

    def handle(self) -> None:
        with contextlib.suppress(OSError):
            self.request.recv(65536)
            self.request.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic "
                                 b'realm="corp"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')


@pytest.fixture
def proxy_asking_407() -> Iterator[str]:
    """The URL of a tiny proxy that wants credentials (407) for everything."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _ProxyAsking407)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class Route:
    """One way to reach one fake Octopus: the in-process settings and the pipe's variables for it."""

    transport: str
    octopus: FakeOctopus
    ca_bundle: Path | None
    proxy: Tinyproxy | None

    def settings(self, **overrides) -> OctopusSettings:
        """No pauses between retries, the package only, unless overridden."""
        proxy_variable = "HTTPS_PROXY" if self.octopus.url.startswith("https") else "HTTP_PROXY"
        base = OctopusSettings(
            server=self.octopus.url, credential=ApiKey(self.octopus.api_key), backoff_factor=0, retries=3,
            push_build_information=False, ca_bundle=self.ca_bundle,
            proxy=Proxy(self.proxy.url, proxy_variable) if self.proxy else None,
        )  # fmt: skip
        return dataclasses.replace(base, **overrides)

    def pipe_env(self) -> dict[str, str]:
        """OCTOPUS_SERVER and friends, with the proxy variables set explicitly (an empty NO_PROXY, too)."""
        env = {"OCTOPUS_SERVER": self.octopus.url, "OCTOPUS_APIKEY": self.octopus.api_key, "NO_PROXY": ""}
        if self.ca_bundle:
            env["OCTOPUS_CA_BUNDLE"] = str(self.ca_bundle)
        if self.proxy:
            env["HTTPS_PROXY" if self.octopus.url.startswith("https") else "HTTP_PROXY"] = self.proxy.url
        return env


@pytest.fixture(params=TRANSPORTS)
def route(
    request: pytest.FixtureRequest,
    make_octopus: Callable[..., FakeOctopus],
    make_https_octopus: Callable[..., FakeOctopus],
    ca_bundle: Path,
) -> Route:
    transport: str = request.param
    https = transport.startswith("https")
    octopus = make_https_octopus() if https else make_octopus()
    proxy = request.getfixturevalue("tinyproxy") if transport.endswith("proxy") else None
    return Route(transport, octopus, ca_bundle if https else None, proxy)
