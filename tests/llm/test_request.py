"""What the client sends, and the model list."""

from __future__ import annotations

import pytest

from qwen_ls import __version__
from qwen_ls.llm import AuthError, ChatClient, ChatRequest, NetworkError, ServerError
from tests.fakes.openai_server import FakeOpenAI, hang, status

from .conftest import KEY, chat_request, run


async def test_request_body_and_headers(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    await run(client, req)

    sent = fake.requests[0]
    assert sent.method == "POST"
    assert sent.path == "/v1/chat/completions"
    assert sent.json == {
        "model": "qwen3-coder-plus",
        "messages": [{"role": "user", "content": "Say hello"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert sent.header("authorization") == f"Bearer {KEY}"
    assert sent.header("accept") == "text/event-stream"
    assert sent.header("user-agent") == f"qwen-ls/{__version__}"
    assert sent.header("content-type") == "application/json"


async def test_no_authorization_header_without_key(
    fake: FakeOpenAI, client: ChatClient
) -> None:
    await run(client, chat_request(fake.chat_url, api_key=None))

    assert fake.requests[0].header("authorization") is None


async def test_extra_body_and_headers_are_merged_last(
    fake: FakeOpenAI, client: ChatClient
) -> None:
    req = chat_request(
        fake.chat_url,
        api_key=None,
        extra_body={
            "temperature": 0.2,
            "stream_options": None,
            "enable_thinking": False,
        },
        extra_headers={"api-key": "azure-secret", "User-Agent": "custom/1"},
    )

    result = await run(client, req)

    sent = fake.requests[0]
    assert result.error is None
    assert sent.json["temperature"] == 0.2
    assert sent.json["enable_thinking"] is False
    assert "stream_options" not in sent.json  # None removes a key
    assert sent.header("api-key") == "azure-secret"
    assert sent.header("user-agent") == "custom/1"


async def test_connections_are_reused(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    for _ in range(3):
        assert (await run(client, req)).error is None

    assert len(fake.requests) == 3
    assert fake.connections == 1


async def test_list_models(fake: FakeOpenAI, client: ChatClient) -> None:
    fake.models = ["qwen3-coder-plus", "qwen3-max"]

    models = await client.list_models(fake.base_url + "/", KEY)

    assert models == ["qwen3-coder-plus", "qwen3-max"]
    assert fake.requests[0].path == "/v1/models"
    assert fake.requests[0].header("authorization") == f"Bearer {KEY}"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(status(404), id="404"),
        pytest.param(status(405, "Method Not Allowed"), id="405"),
        pytest.param(status(200, "<html>hello</html>"), id="not-json"),
        pytest.param(status(200, {"object": "list"}), id="no-data"),
        pytest.param(status(200, b""), id="empty"),
    ],
)
async def test_list_models_without_such_route_is_none(
    fake: FakeOpenAI, client: ChatClient, answer: object
) -> None:
    fake.routes["GET /v1/models"] = answer  # type: ignore[assignment]

    assert await client.list_models(fake.base_url, None) is None


async def test_list_models_accepts_a_bare_list(
    fake: FakeOpenAI, client: ChatClient
) -> None:
    fake.routes["GET /v1/models"] = status(200, b'[{"id": "a"}, {"name": "x"}]')

    assert await client.list_models(fake.base_url, None) == ["a"]


async def test_list_models_auth_error(fake: FakeOpenAI, client: ChatClient) -> None:
    fake.routes["GET /v1/models"] = status(401, {"error": {"message": "no key"}})

    with pytest.raises(AuthError) as caught:
        await client.list_models(fake.base_url, None)

    assert str(caught.value) == f"HTTP 401 from 127.0.0.1:{fake.port}: no key"
    assert caught.value.__context__ is None


async def test_list_models_server_error(fake: FakeOpenAI, client: ChatClient) -> None:
    fake.routes["GET /v1/models"] = status(500)

    with pytest.raises(ServerError):
        await client.list_models(fake.base_url, None)


async def test_list_models_timeout(fake: FakeOpenAI, client: ChatClient) -> None:
    fake.routes["GET /v1/models"] = hang(5, send_headers=False)

    with pytest.raises(NetworkError) as caught:
        await client.list_models(fake.base_url, None, timeout=0.2)

    assert str(caught.value) == f"no data from 127.0.0.1:{fake.port} for 0.2 s"
    assert caught.value.__context__ is None
