"""Connections: which requests go through a proxy, and which CAs are trusted.

Proxies come from ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` and ``NO_PROXY`` (the
lowercase variants win when both are set), read from the mapping the client was
given rather than from ``os.environ`` directly. Loopback targets (``localhost``,
127.0.0.0/8, ``::1``) always go direct: a local model server is never behind the
corporate proxy. TLS verification is always on; ``SSL_CERT_FILE``,
``REQUESTS_CA_BUNDLE`` and ``SSL_CERT_DIR`` add CAs to the bundled certifi roots.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import certifi
import httpx

from .diagnose import host_label
from .errors import ConfigError, scrub

_log = logging.getLogger("qwen_ls.llm")

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


@dataclass(frozen=True)
class ProxySettings:
    """Proxy URLs per target scheme and the ``NO_PROXY`` entries."""

    http: str | None = None
    https: str | None = None
    no_proxy: tuple[str, ...] = ()


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name.lower()) or environ.get(name.upper()) or ""
    return value.strip() or None


def proxy_settings(environ: Mapping[str, str]) -> ProxySettings:
    """Read the proxy variables from ``environ``."""
    fallback = _env(environ, "all_proxy")
    no_proxy = _env(environ, "no_proxy") or ""
    return ProxySettings(
        http=_env(environ, "http_proxy") or fallback,
        https=_env(environ, "https_proxy") or fallback,
        no_proxy=tuple(e.strip().lower() for e in no_proxy.split(",") if e.strip()),
    )


def is_loopback(host: str) -> bool:
    """``localhost`` names and loopback addresses (127.0.0.0/8, ``::1``)."""
    host = host.strip("[]").lower().rstrip(".")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _bypassed(host: str, port: int, entry: str) -> bool:
    if entry == "*":
        return True
    entry_host, _, entry_port = (
        entry.rpartition(":") if _has_port(entry) else (entry, "", "")
    )
    if entry_port and entry_port != str(port):
        return False
    entry_host = entry_host.strip("[]")
    try:
        network = ipaddress.ip_network(entry_host, strict=False)
    except ValueError:
        domain = entry_host.lstrip("*").lstrip(".")
        return bool(domain) and (host == domain or host.endswith("." + domain))
    try:
        return ipaddress.ip_address(host) in network
    except ValueError:
        return False


def _has_port(entry: str) -> bool:
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and (head.endswith("]") or ":" not in head)


def proxy_for(url: httpx.URL, settings: ProxySettings) -> str | None:
    """The proxy URL to use for ``url``, or None to connect directly."""
    host = url.host.strip("[]").lower().rstrip(".")
    if is_loopback(host):
        return None
    port = url.port or (443 if url.scheme == "https" else 80)
    if any(_bypassed(host, port, entry) for entry in settings.no_proxy):
        return None
    return settings.https if url.scheme == "https" else settings.http


def _proxy_url(value: str) -> httpx.URL:
    if "://" not in value:
        value = f"http://{value}"
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        raise ConfigError(f"proxy URL {scrub(value)!r} is not a valid URL") from None
    if url.scheme not in _PROXY_SCHEMES or not url.host:
        raise ConfigError(
            f"proxy URL {scrub(value)!r} is not supported; use http://host:port"
        )
    return url


def ssl_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    """A verifying TLS context trusting certifi's roots plus the CAs named by
    ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE`` and ``SSL_CERT_DIR``."""
    context = ssl.create_default_context(cafile=certifi.where())
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        path = (environ.get(name) or "").strip()
        if path:
            try:
                context.load_verify_locations(cafile=path)
            except (OSError, ssl.SSLError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise ConfigError(
                    f"{name}={path} cannot be used as a CA bundle: {reason}"
                ) from None
    for directory in (environ.get("SSL_CERT_DIR") or "").split(os.pathsep):
        directory = directory.strip()
        if directory and not os.path.isdir(directory):
            raise ConfigError(f"SSL_CERT_DIR={directory} is not a directory")
        if directory:
            context.load_verify_locations(capath=directory)
    return context


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request directly or through the proxy :func:`proxy_for` picks,
    each route with its own connection pool."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        limits: httpx.Limits,
    ) -> None:
        self._settings = proxy_settings(environ)
        verify = ssl_context(environ)
        self._direct = httpx.AsyncHTTPTransport(
            verify=verify, limits=limits, trust_env=False
        )
        self._proxied: dict[str, httpx.AsyncHTTPTransport] = {}
        for value in {self._settings.http, self._settings.https} - {None}:
            assert value is not None
            url = _proxy_url(value)
            try:
                self._proxied[value] = httpx.AsyncHTTPTransport(
                    verify=verify,
                    limits=limits,
                    trust_env=False,
                    proxy=httpx.Proxy(url),
                )
            except ImportError:
                raise ConfigError(
                    f"proxy {host_label(url)} uses {url.scheme}://, which needs the "
                    "socksio package (pip install 'httpx[socks]')"
                ) from None
            _log.debug("proxy configured: %s://%s", url.scheme, host_label(url))

    def route(self, url: httpx.URL) -> str | None:
        """The proxy ``url`` goes through, shown without credentials; None if direct."""
        proxy = proxy_for(url, self._settings)
        if proxy is None:
            return None
        return host_label(_proxy_url(proxy))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxy = proxy_for(request.url, self._settings)
        transport = self._direct if proxy is None else self._proxied[proxy]
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self._direct, *self._proxied.values()):
            await transport.aclose()


class MadeOnFirstUse(httpx.AsyncBaseTransport):
    """A transport made by ``make`` on the first request: proxies and CA bundles are
    read when something is sent, not when a client is set up."""

    def __init__(self, make: Callable[[], httpx.AsyncBaseTransport]) -> None:
        self._make = make
        self._transport: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            self._transport = self._make()
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
