"""Which HTTP(S) proxy, if any, carries the requests to OCTOPUS_SERVER: HTTPS_PROXY, HTTP_PROXY and NO_PROXY.

Decided here, once, from the environment the pipe was given, so the HTTP client never consults the
environment itself (it runs with requests' trust_env off) and tests can hand it any proxy explicitly.
"""

from collections.abc import Mapping
from contextlib import suppress
from ipaddress import ip_address, ip_network
from urllib.parse import unquote, urlsplit

from octopus_pack.errors import PipeError
from octopus_pack.masking import register_secret
from octopus_pack.octopus.settings import Proxy


def proxy_for(server_url: str, env: Mapping[str, str]) -> Proxy | None:
    """The proxy for `server_url` as curl and requests choose it: lower-case names first, NO_PROXY wins."""
    parts = urlsplit(server_url)
    name = "HTTPS_PROXY" if parts.scheme == "https" else "HTTP_PROXY"
    variable, value = _first(env, name)
    if not value:
        return None
    _, no_proxy = _first(env, "NO_PROXY")
    host = parts.hostname or ""
    if no_proxy and (no_proxy.strip() == "*" or _bypassed(host, parts.port, no_proxy)):
        return None
    return Proxy(_checked(variable, value), variable)


def _first(env: Mapping[str, str], name: str) -> tuple[str, str]:
    for variable in (name.lower(), name):
        value = (env.get(variable) or "").strip()
        if value:
            return variable, value
    return name, ""


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """NO_PROXY's rules as urllib applies them (names, .suffixes, host:port), plus CIDR ranges as requests does."""
    from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed; slow to import

    if proxy_bypass_environment(f"{host}:{port}" if port else host, {"no": no_proxy}):
        return True
    try:
        address = ip_address(host)
    except ValueError:
        return False
    for entry in (e.strip() for e in no_proxy.split(",")):
        with suppress(ValueError):
            if "/" in entry and address in ip_network(entry, strict=False):
                return True
    return False


def _checked(variable: str, value: str) -> str:
    """`proxy:3128` means http://proxy:3128; only http and https proxies are supported."""
    url = value if "://" in value else f"http://{value}"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise PipeError(
            f"{variable} '{parts.scheme}://{parts.hostname or ''}…' is not an http(s) proxy URL: use the form "
            "http://proxy.example.com:3128 (SOCKS proxies are not supported), or unset it."
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise PipeError(f"{variable} has a port that is not a number: use the form http://proxy:3128.") from None
    for secret in (parts.username, parts.password):  # the proxy needs them; no line may show them
        if secret:
            register_secret(secret)
            register_secret(unquote(secret))
    return url
