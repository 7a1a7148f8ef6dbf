"""Proxy selection (B49). Remote-looking hosts are only ever reached through the fake
proxy on 127.0.0.1, which answers itself; nothing is resolved or connected to."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator

import httpx
import pytest

from qwen_ls.llm import ChatClient, ConfigError, NetworkError
from qwen_ls.llm.transport import is_loopback, proxy_for, proxy_settings
from tests.fakes.openai_server import FakeOpenAI, FakeProxy, text_stream

from .conftest import KEY, chat_request, run

PROXY = "http://127.0.0.1:3128"


@pytest.fixture
def proxy(fake: FakeOpenAI) -> Iterator[FakeProxy]:
    with FakeProxy(upstream=fake) as server:
        yield server


@pytest.mark.parametrize(
    ("target", "environ", "expected"),
    [
        pytest.param(
            "http://localhost:11434/v1", {"HTTP_PROXY": PROXY}, None, id="a-localhost"
        ),
        pytest.param(
            "http://127.0.0.1:8000/v1", {"HTTP_PROXY": PROXY}, None, id="b-127.0.0.1"
        ),
        pytest.param(
            "http://127.8.9.10:8000/v1", {"HTTP_PROXY": PROXY}, None, id="b-127/8"
        ),
        pytest.param(
            "http://[::1]:8000/v1", {"HTTP_PROXY": PROXY}, None, id="c-ipv6-loopback"
        ),
        pytest.param(
            "https://api.remote.test/v1", {"HTTPS_PROXY": PROXY}, PROXY, id="d-remote"
        ),
        pytest.param(
            "https://api.remote.test/v1", {"HTTP_PROXY": PROXY}, None, id="http-only"
        ),
        pytest.param(
            "http://api.remote.test/v1", {"HTTP_PROXY": PROXY}, PROXY, id="http"
        ),
        pytest.param(
            "https://api.remote.test/v1", {"https_proxy": PROXY}, PROXY, id="lowercase"
        ),
        pytest.param(
            "https://api.remote.test/v1",
            {"https_proxy": PROXY, "HTTPS_PROXY": "http://other:1"},
            PROXY,
            id="lowercase-wins",
        ),
        pytest.param(
            "https://api.remote.test/v1", {"ALL_PROXY": PROXY}, PROXY, id="all"
        ),
        pytest.param(
            "https://api.remote.test/v1",
            {"HTTPS_PROXY": PROXY, "NO_PROXY": ".remote.test,10.0.0.0/8"},
            None,
            id="no-proxy-suffix",
        ),
        pytest.param(
            "https://remote.test/v1",
            {"HTTPS_PROXY": PROXY, "no_proxy": "remote.test"},
            None,
            id="no-proxy-exact-lowercase",
        ),
        pytest.param(
            "https://notremote.test/v1",
            {"HTTPS_PROXY": PROXY, "NO_PROXY": "remote.test"},
            PROXY,
            id="no-proxy-not-a-suffix-match",
        ),
        pytest.param(
            "http://10.1.2.3:8000/v1",
            {"HTTP_PROXY": PROXY, "NO_PROXY": ".remote.test, 10.0.0.0/8"},
            None,
            id="no-proxy-cidr",
        ),
        pytest.param(
            "http://10.1.2.3:8000/v1",
            {"HTTP_PROXY": PROXY, "NO_PROXY": "10.1.2.3:9000"},
            PROXY,
            id="no-proxy-other-port",
        ),
        pytest.param(
            "http://10.1.2.3:9000/v1",
            {"HTTP_PROXY": PROXY, "NO_PROXY": "10.1.2.3:9000"},
            None,
            id="no-proxy-same-port",
        ),
        pytest.param(
            "https://api.remote.test/v1",
            {"HTTPS_PROXY": PROXY, "NO_PROXY": "*"},
            None,
            id="no-proxy-star",
        ),
        pytest.param("https://api.remote.test/v1", {}, None, id="no-proxy-configured"),
    ],
)
def test_B49_proxy_choice(
    target: str, environ: dict[str, str], expected: str | None
) -> None:
    assert proxy_for(httpx.URL(target), proxy_settings(environ)) == expected


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("api.localhost", True),
        ("127.0.0.1", True),
        ("127.255.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("api.remote.test", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_B49_loopback_goes_direct_although_a_proxy_is_set(
    fake: FakeOpenAI, proxy: FakeProxy
) -> None:
    environ = {
        "HTTP_PROXY": proxy.url,
        "HTTPS_PROXY": proxy.url,
        "ALL_PROXY": proxy.url,
    }
    client = ChatClient(environ=environ)

    result = await run(client, chat_request(fake.chat_url))
    await client.aclose()

    assert result.error is None
    assert proxy.requests == []
    assert len(fake.chat_requests()) == 1


async def test_B49_remote_http_target_goes_through_the_proxy(
    fake: FakeOpenAI, proxy: FakeProxy
) -> None:
    fake.script(text_stream("via proxy"))
    client = ChatClient(environ={"http_proxy": proxy.url})

    result = await run(
        client, chat_request("http://api.remote.test/v1/chat/completions")
    )
    await client.aclose()

    assert result.error is None
    assert result.text == "via proxy"
    assert [(r.method, r.target) for r in proxy.requests] == [
        ("POST", "http://api.remote.test/v1/chat/completions")
    ]
    assert fake.requests[0].header("authorization") == f"Bearer {KEY}"


async def test_B49_remote_https_target_uses_connect(proxy: FakeProxy) -> None:
    client = ChatClient(environ={"HTTPS_PROXY": proxy.url}, retry_base_delay=0.01)

    result = await run(
        client, chat_request("https://api.remote.test/v1/chat/completions")
    )
    await client.aclose()

    assert [(r.method, r.target) for r in proxy.requests] == [
        ("CONNECT", "api.remote.test:443")
    ]
    assert isinstance(result.error, NetworkError)
    assert str(result.error) == (
        f"proxy 127.0.0.1:{proxy.port} refused the connection to api.remote.test: "
        "502 Bad Gateway"
    )


async def test_B49_proxy_credentials_are_sent_but_never_shown(
    fake: FakeOpenAI, proxy: FakeProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy_url = f"http://u:hunter2@127.0.0.1:{proxy.port}"
    fake.script(text_stream("ok"))
    client = ChatClient(environ={"HTTP_PROXY": proxy_url, "HTTPS_PROXY": proxy_url})

    ok = await run(client, chat_request("http://api.remote.test/v1/chat/completions"))
    failed = await run(
        client, chat_request("https://api.remote.test/v1/chat/completions")
    )
    await client.aclose()

    assert ok.error is None
    assert proxy.requests[0].headers.get("Proxy-Authorization") == "Basic dTpodW50ZXIy"
    assert failed.error is not None
    assert "hunter2" not in str(failed.error)
    assert "hunter2" not in caplog.text
    assert "dTpodW50ZXIy" not in caplog.text


async def test_B49_unreachable_proxy_is_named(proxy: FakeProxy) -> None:
    port = proxy.port
    proxy.stop()
    client = ChatClient(
        environ={"HTTP_PROXY": f"127.0.0.1:{port}"}, retry_base_delay=0.01
    )

    result = await run(
        client, chat_request("http://api.remote.test/v1/chat/completions")
    )
    await client.aclose()

    assert isinstance(result.error, NetworkError)
    assert str(result.error).startswith(
        f"cannot connect to proxy 127.0.0.1:{port} (for api.remote.test): "
    )


async def test_B49_process_environment_is_the_default(
    fake: FakeOpenAI, proxy: FakeProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", proxy.url)
    client = ChatClient()

    models_before = await client.list_models("http://api.remote.test/v1", None)
    await client.aclose()

    assert models_before is None  # the fake's 404, reached through the proxy
    assert [r.target for r in proxy.requests] == ["http://api.remote.test/v1/models"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("ftp://127.0.0.1:21", "is not supported", id="scheme"),
        pytest.param("http://", "is not", id="no-host"),
    ],
)
async def test_unusable_proxy_url_is_a_config_error(value: str, message: str) -> None:
    client = ChatClient(environ={"HTTPS_PROXY": value})

    result = await run(
        client, chat_request("https://api.remote.test/v1/chat/completions")
    )

    assert isinstance(result.error, ConfigError)
    assert message in str(result.error)


@pytest.mark.skipif(
    importlib.util.find_spec("socksio") is not None, reason="socksio is installed"
)
async def test_socks_proxy_without_socksio_is_a_config_error() -> None:
    client = ChatClient(environ={"ALL_PROXY": "socks5://127.0.0.1:1080"})

    result = await run(
        client, chat_request("https://api.remote.test/v1/chat/completions")
    )

    assert isinstance(result.error, ConfigError)
    assert "pip install 'httpx[socks]'" in str(result.error)
