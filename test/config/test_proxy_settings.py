"""HTTPS_PROXY, HTTP_PROXY and NO_PROXY, read once by config/ and handed to the client explicitly."""

import dataclasses
import hashlib

import pytest

from octopus_pack.config.bitbucket import bitbucket_build_from
from octopus_pack.config.octopus import octopus_settings_from
from octopus_pack.config.proxies import proxy_for
from octopus_pack.errors import PipeError
from octopus_pack.masking import mask
from octopus_pack.octopus import push_to_octopus
from octopus_pack.octopus.settings import ApiKey, OctopusSettings, Proxy
from octopus_pack.package_result import PackageResult


@pytest.mark.parametrize(
    "server, env, expected",
    [
        ("https://o.example.com", {"HTTPS_PROXY": "http://p:3128"}, "http://p:3128 (HTTPS_PROXY)"),
        ("https://o.example.com", {"https_proxy": "p:3128", "HTTPS_PROXY": "http://q:1"},
         "http://p:3128 (https_proxy)"),
        ("https://o.example.com", {"HTTP_PROXY": "http://p:3128"}, None),
        ("http://o.example.com", {"HTTP_PROXY": "http://p:3128"}, "http://p:3128 (HTTP_PROXY)"),
        ("https://o.example.com", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "example.com"}, None),
        ("https://o.example.com", {"HTTPS_PROXY": "http://p:3128", "no_proxy": ".example.com"}, None),
        ("https://o.example.com", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*"}, None),
        ("https://o.example.com:8443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "o.example.com:443"},
         "http://p:1 (HTTPS_PROXY)"),
        ("https://o.example.com:8443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "o.example.com:8443"}, None),
        ("https://10.1.2.3", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, None),
        ("https://11.1.2.3", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, "http://p:1 (HTTPS_PROXY)"),
        ("https://o.example.com", {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "other.org, "},
         "http://p:3128 (HTTPS_PROXY)"),
        ("https://o.example.com", {}, None),
    ],
)
def test_the_proxy_for_the_server(server, env, expected):
    proxy = proxy_for(server, env)
    assert (str(proxy) if proxy else None) == expected


def test_a_proxy_password_is_masked_and_never_shown():
    proxy = proxy_for("https://o.example.com", {"HTTPS_PROXY": "http://me:s3cretProxyPass@p:3128"})
    assert str(proxy) == "http://p:3128 (HTTPS_PROXY)"
    assert mask("proxy said s3cretProxyPass") == "proxy said <hidden>"


@pytest.mark.parametrize("value", ["socks5://p:1080", "http://p:notaport"])
def test_unusable_proxy_values_name_the_variable(value):
    with pytest.raises(PipeError, match=r"^HTTPS_PROXY "):
        proxy_for("https://o.example.com", {"HTTPS_PROXY": value})


def test_settings_carry_the_proxy():
    settings = octopus_settings_from(
        {"OCTOPUS_SERVER": "https://o.example.com/app#/Spaces-1", "OCTOPUS_APIKEY": "API-ABC123",
         "HTTPS_PROXY": "http://p:3128"},
    )
    assert settings.proxy == Proxy("http://p:3128", "HTTPS_PROXY")
    assert "proxy=http://p:3128 (HTTPS_PROXY)" in settings.describe()


def test_the_client_ignores_proxy_variables_in_its_own_environment(octopus, tmp_path, monkeypatch):
    """Only config/ reads the environment: a dead proxy there must not matter to a client told to go direct."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    path = tmp_path / "MyApp.1.0.0.zip"
    path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    package = PackageResult(path, "MyApp", "1.0.0", "zip", 22, "", 0, hashlib.sha1(path.read_bytes()).hexdigest())
    settings = OctopusSettings(server=octopus.url, credential=ApiKey(octopus.api_key), push_build_information=False)
    push_to_octopus(dataclasses.replace(settings, retries=0), package, bitbucket_build_from({}))
    assert octopus.package_bytes("MyApp", "1.0.0") == path.read_bytes()
