"""HTTP errors, their messages, and when requests are retried."""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import socket
import time

import httpx
import pytest

from qwen_ls.llm import (
    AuthError,
    ChatClient,
    ChatRequest,
    ConfigError,
    Finish,
    NetworkError,
    RateLimitError,
    Retrying,
    ServerError,
    TextDelta,
)
from qwen_ls.llm.diagnose import display_url, not_found_hints
from qwen_ls.llm.retry import human_duration, retry_after
from tests.fakes.openai_server import (
    FakeOpenAI,
    disconnect,
    drop_after,
    hang,
    status,
    text_stream,
)

from .conftest import chat_request, run


@pytest.mark.parametrize("code", [401, 403])
async def test_auth_errors_show_status_host_and_sanitised_message(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, code: int
) -> None:
    message = "Incorrect API key provided: sk-test-SECRET0000.\n" + "x" * 400
    fake.script(
        status(code, {"error": {"message": message, "code": "invalid_api_key"}})
    )

    result = await run(client, req)

    assert isinstance(result.error, AuthError)
    assert result.error.kind == "auth"
    assert result.error.status == code
    text = str(result.error)
    host = f"127.0.0.1:{fake.port}"
    assert text.startswith(
        f"HTTP {code} from {host}: Incorrect API key provided: sk-…0000. x"
    )
    assert text.endswith("…")
    assert len(text) < 340
    assert "SECRET" not in text
    assert len(fake.chat_requests()) == 1


@pytest.mark.parametrize(
    ("base", "hint"),
    [
        pytest.param(
            "", "; did you mean http://127.0.0.1:{port}/v1 ?", id="ollama-without-v1"
        ),
        pytest.param("/v1", "", id="with-v1"),
    ],
)
async def test_B45_404_shows_final_url_and_suggests_v1(
    fake: FakeOpenAI, client: ChatClient, base: str, hint: str
) -> None:
    fake.script(status(404, b"404 page not found"))
    url = f"http://127.0.0.1:{fake.port}{base}/chat/completions"

    result = await run(client, chat_request(url))

    assert isinstance(result.error, ServerError)
    assert result.error.status == 404
    assert str(result.error) == (
        f"HTTP 404 from {url}: 404 page not found" + hint.format(port=fake.port)
    )
    assert fake.requests[0].path == f"{base}/chat/completions"


async def test_B46_empty_404_without_content_type(
    fake: FakeOpenAI, client: ChatClient
) -> None:
    fake.script(status(404))
    url = f"http://127.0.0.1:{fake.port}/api/v1/chat/completions"

    result = await run(client, chat_request(url))

    assert str(result.error) == f"HTTP 404 from {url} (empty body)"
    assert status(404).headers == {}  # no content type, no body


@pytest.mark.parametrize(
    ("url", "hints"),
    [
        pytest.param(
            "https://dashscope.aliyuncs.com/api/v1/chat/completions",
            [
                "for OpenAI-compatible access use "
                "https://dashscope.aliyuncs.com/compatible-mode/v1"
            ],
            id="dashscope-native",
        ),
        pytest.param(
            "https://dashscope-intl.aliyuncs.com/api/v1/chat/completions",
            [
                "for OpenAI-compatible access use "
                "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
            ],
            id="dashscope-intl-native",
        ),
        pytest.param(
            "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions",
            [],
            id="dashscope-compatible",
        ),
        pytest.param(
            "http://127.0.0.1:11434/chat/completions",
            ["did you mean http://127.0.0.1:11434/v1 ?"],
            id="ollama-root",
        ),
        pytest.param(
            "https://openrouter.ai/api/v1/chat/completions", [], id="openrouter"
        ),
        pytest.param(
            "https://x.openai.azure.com/openai/deployments/gpt/chat/completions",
            [],
            id="azure-deployment",
        ),
    ],
)
def test_B46_not_found_hints(url: str, hints: list[str]) -> None:
    assert not_found_hints(httpx.URL(url)) == hints


def test_display_url_hides_credentials_and_query_values() -> None:
    url = httpx.URL("https://user:pw@h.example:8443/v1/chat/completions?key=abc")

    assert display_url(url) == "https://h.example:8443/v1/chat/completions?…"


@pytest.mark.parametrize(
    ("code", "body", "expected"),
    [
        pytest.param(
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 8192 tokens"
                }
            },
            "HTTP 400 from {host}: This model's maximum context length is 8192 tokens; "
            "the request is too long for the model's context window; send a smaller "
            "selection or fewer files",
            id="400-context-length",
        ),
        pytest.param(
            413,
            b"",
            "HTTP 413 from {host} (empty body); the request is too long for the "
            "model's context window; send a smaller selection or fewer files",
            id="413",
        ),
        pytest.param(
            400,
            {"error": {"message": "Unknown parameter: stream_options"}},
            "HTTP 400 from {host}: Unknown parameter: stream_options",
            id="400-other",
        ),
        pytest.param(
            422,
            {"detail": [{"msg": "field required"}]},
            'HTTP 422 from {host}: [{{"msg": "field required"}}]',
            id="422-fastapi",
        ),
        pytest.param(
            400,
            b"<html><head><title>400 Bad Request</title></head><body>nginx</body>",
            "HTTP 400 from {host}: 400 Bad Request",
            id="html",
        ),
        pytest.param(
            400,
            b"\xff\xfe not utf-8",
            "HTTP 400 from {host}: \ufffd\ufffd not utf-8",
            id="undecodable",
        ),
    ],
)
async def test_other_4xx_are_server_errors_without_retry(
    fake: FakeOpenAI,
    client: ChatClient,
    req: ChatRequest,
    sleeps: list[float],
    code: int,
    body: bytes | dict,
    expected: str,
) -> None:
    fake.script(status(code, body))

    result = await run(client, req)

    assert isinstance(result.error, ServerError)
    assert result.error.status == code
    assert str(result.error) == expected.format(host=f"127.0.0.1:{fake.port}")
    assert sleeps == []


async def test_redirect_names_the_new_address(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(status(308, headers={"Location": "https://api.example.com/v1/x"}))

    result = await run(client, req)

    assert str(result.error) == (
        f"HTTP 308 from 127.0.0.1:{fake.port}: redirects to "
        "https://api.example.com/v1/x; use that address in the base URL"
    )


async def test_5xx_is_retried_with_backoff_then_succeeds(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, sleeps: list[float]
) -> None:
    fake.script(
        status(502), status(503, {"error": {"message": "busy"}}), text_stream("ok")
    )

    result = await run(client, req)

    assert result.error is None
    assert result.text == "ok"
    assert result.retries == [
        Retrying(1, 0.01, "HTTP 502"),
        Retrying(2, 0.02, "HTTP 503"),
    ]
    assert sleeps == [0.01, 0.02]


async def test_5xx_retries_are_bounded(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, sleeps: list[float]
) -> None:
    fake.script(*[status(500, {"error": {"message": "boom"}})] * 5)

    result = await run(client, req)

    assert isinstance(result.error, ServerError)
    assert str(result.error) == f"HTTP 500 from 127.0.0.1:{fake.port}: boom"
    assert len(fake.chat_requests()) == 3
    assert len(sleeps) == 2


async def test_501_is_not_retried(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, sleeps: list[float]
) -> None:
    fake.script(status(501))

    result = await run(client, req)

    assert isinstance(result.error, ServerError)
    assert sleeps == []


async def test_real_backoff_waits(fake: FakeOpenAI) -> None:
    client = ChatClient(retry_base_delay=0.1, environ={})
    fake.script(status(503), status(503), text_stream("ok"))

    started = time.monotonic()
    result = await run(client, chat_request(fake.chat_url))
    await client.aclose()

    assert result.text == "ok"
    assert 0.3 <= time.monotonic() - started < 1.5
    gaps = [b.time - a.time for a, b in itertools.pairwise(fake.requests)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_retried_then_network_error(
    client: ChatClient, sleeps: list[float]
) -> None:
    port = _free_port()

    result = await run(
        client, chat_request(f"http://127.0.0.1:{port}/v1/chat/completions")
    )

    assert isinstance(result.error, NetworkError)
    assert result.error.kind == "network"
    assert str(result.error).startswith(f"cannot connect to 127.0.0.1:{port}: ")
    assert [r.reason for r in result.retries] == ["connection failed"] * 2


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(disconnect(), id="closed-without-answer"),
        pytest.param(disconnect(reset=True), id="reset-without-answer"),
        pytest.param(drop_after(0, reset=True), id="reset-after-headers"),
    ],
)
async def test_connection_lost_before_any_token_is_retried(
    fake: FakeOpenAI,
    client: ChatClient,
    req: ChatRequest,
    sleeps: list[float],
    failure: object,
) -> None:
    fake.script(failure, text_stream("ok"))  # type: ignore[arg-type]

    result = await run(client, req)

    assert result.error is None
    assert result.text == "ok"
    assert [r.reason for r in result.retries] == ["connection lost"]


async def test_silence_before_headers_hits_the_idle_timeout_without_retry(
    fake: FakeOpenAI, req: ChatRequest, sleeps: list[float]
) -> None:
    client = ChatClient(idle_timeout=0.2, environ={})
    fake.script(hang(5, send_headers=False))

    result = await run(client, req)
    await client.aclose()

    assert str(result.error) == f"no data from 127.0.0.1:{fake.port} for 0.2 s"
    assert sleeps == []


@pytest.mark.parametrize(
    ("headers", "body", "wait"),
    [
        pytest.param({"Retry-After": "7"}, b"", 7.0, id="seconds"),
        pytest.param({"Retry-After": "<date in 7 s>"}, b"", 7.0, id="http-date"),
        pytest.param({"retry-after-ms": "1500"}, b"", 1.5, id="retry-after-ms"),
        pytest.param(
            {},
            b'{"error":{"message":"Requests exceed the rate. Please retry after 33 '
            b'seconds."}}',
            33.0,
            id="azure-message",
        ),
        pytest.param({}, b"", 0.01, id="no-hint-backoff"),
    ],
)
async def test_B48_429_waits_as_asked_then_succeeds(
    fake: FakeOpenAI,
    client: ChatClient,
    req: ChatRequest,
    sleeps: list[float],
    headers: dict[str, str],
    body: bytes,
    wait: float,
) -> None:
    if headers.get("Retry-After") == "<date in 7 s>":
        headers = {
            "Retry-After": email.utils.formatdate(time.time() + 7.5, usegmt=True)
        }
    fake.script(status(429, body, headers), text_stream("ok"))

    result = await run(client, req)

    assert result.error is None
    assert result.text == "ok"
    assert len(result.retries) == 1
    assert result.retries[0].reason == "rate limited"
    assert result.retries[0].delay == pytest.approx(wait, abs=1.01)
    assert sleeps == [result.retries[0].delay]
    assert result.events[0] == result.retries[0]  # announced before any text


async def test_B48_wait_over_the_cap_fails_at_once(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, sleeps: list[float]
) -> None:
    fake.script(
        status(429, {"error": {"message": "slow down"}}, {"Retry-After": "3600"})
    )

    result = await run(client, req)

    assert isinstance(result.error, RateLimitError)
    assert result.error.kind == "rateLimit"
    assert result.error.retry_after == 3600
    assert (
        str(result.error) == f"rate limited by 127.0.0.1:{fake.port}, retry after 1 h"
    )
    assert sleeps == []
    assert len(fake.chat_requests()) == 1


async def test_B48_retries_exhausted(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, sleeps: list[float]
) -> None:
    fake.script(
        *[status(429, {"error": {"message": "slow down"}}, {"Retry-After": "2"})] * 3
    )

    result = await run(client, req)

    assert isinstance(result.error, RateLimitError)
    assert result.error.status == 429
    assert result.error.retry_after == 2
    assert (
        str(result.error)
        == f"rate limited by 127.0.0.1:{fake.port} (HTTP 429): slow down"
    )
    assert sleeps == [2, 2]
    assert len(fake.chat_requests()) == 3


async def test_B48_insufficient_quota_is_not_retried(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, sleeps: list[float]
) -> None:
    body = {
        "error": {
            "message": "You exceeded your current quota",
            "code": "insufficient_quota",
        }
    }
    fake.script(status(429, body))

    result = await run(client, req)

    assert isinstance(result.error, RateLimitError)
    assert sleeps == []


async def test_B48_wait_is_cancellable(fake: FakeOpenAI, client: ChatClient) -> None:
    fake.script(status(429, headers={"Retry-After": "30"}))
    events: list[object] = []

    async def consume() -> None:
        async for event in client.stream_chat(chat_request(fake.chat_url)):
            events.append(event)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert events == [Retrying(1, 30.0, "rate limited")]
    assert len(fake.chat_requests()) == 1


async def test_no_retry_after_text_was_shown(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, sleeps: list[float]
) -> None:
    stream = text_stream("Hello world", pieces=["Hello", " world"])
    fake.script(drop_after(len(stream.pieces[0]) + 5, stream, reset=True))

    result = await run(client, req)

    assert result.events == [TextDelta("Hello")]
    assert isinstance(result.error, NetworkError)
    assert result.error.partial_text == "Hello"
    assert sleeps == []


@pytest.mark.parametrize(
    ("headers", "message", "expected"),
    [
        pytest.param({"retry-after": "7"}, "", 7.0, id="seconds"),
        pytest.param({"retry-after": "1.5"}, "", 1.5, id="fractional"),
        pytest.param(
            {"retry-after": "Wed, 21 Oct 2026 07:28:07 GMT"}, "", 7.0, id="date"
        ),
        pytest.param(
            {"retry-after": "Wed, 21 Oct 2026 07:27:00 GMT"}, "", 0.0, id="past-date"
        ),
        pytest.param(
            {"retry-after-ms": "1500", "retry-after": "9"}, "", 1.5, id="ms-wins"
        ),
        pytest.param({"retry-after": "soon"}, "", None, id="garbage"),
        pytest.param({}, "Please retry after 33 seconds.", 33.0, id="azure"),
        pytest.param({}, "Please try again in 6.5s.", 6.5, id="openai-s"),
        pytest.param({}, "Please try again in 120ms.", 0.12, id="openai-ms"),
        pytest.param({}, "try again in 2 minutes", 120.0, id="minutes"),
        pytest.param({}, "quota exceeded", None, id="none"),
    ],
)
def test_retry_after_parsing(
    headers: dict[str, str], message: str, expected: float | None
) -> None:
    now = email.utils.mktime_tz(
        email.utils.parsedate_tz("Wed, 21 Oct 2026 07:28:00 GMT")
    )
    assert retry_after(httpx.Headers(headers), message, now=now) == (
        pytest.approx(expected) if expected is not None else None
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1.5, "1.5 s"),
        (7, "7 s"),
        (59.96, "60 s"),
        (61, "2 min"),
        (3600, "1 h"),
        (5400, "1 h 30 min"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/v1/chat/completions", "not a url", "http:///chat/completions"],
)
async def test_bad_urls_are_config_errors(client: ChatClient, url: str) -> None:
    result = await run(client, chat_request(url))

    assert isinstance(result.error, ConfigError)
    assert result.error.kind == "config"


async def test_successful_request_after_error_reuses_the_client(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(status(400, {"error": {"message": "bad"}}))
    assert isinstance((await run(client, req)).error, ServerError)

    result = await run(client, req)

    assert result.finish == Finish("stop")
