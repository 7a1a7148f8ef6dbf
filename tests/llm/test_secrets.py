"""No key, token or proxy password in logs, messages or exception chains (B63)."""

from __future__ import annotations

import logging
import traceback

import pytest

from qwen_ls.llm import ChatClient, LLMError
from qwen_ls.llm.errors import provider_text, redacted, scrub
from tests.fakes.openai_server import (
    FakeOpenAI,
    FakeProxy,
    drop_after,
    hang,
    status,
    text_stream,
)

from .conftest import chat_request, run

SECRETS = ("SECRET0000", "SECRET1", "SECRET2", "hunter2", "azure-SECRET3")


def _everything_about(error: LLMError) -> str:
    return "\n".join(
        [
            str(error),
            repr(error),
            error.partial_text,
            "".join(traceback.format_exception(error)),
            repr(vars(error)),
        ]
    )


async def test_B63_no_secret_reaches_logs_or_errors(
    fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echoing = "Incorrect API key provided: sk-test-SECRET0000 (Bearer at-test-SECRET1)"
    fake.script(
        text_stream("fine"),
        status(401, {"error": {"message": echoing}}),
        status(429, {"error": {"message": echoing}}, {"Retry-After": "0"}),
        status(429, {"error": {"message": echoing}}, {"Retry-After": "0"}),
        status(429, {"error": {"message": echoing}}, {"Retry-After": "0"}),
        hang(5),
        drop_after(0, reset=True),
        drop_after(0, reset=True),
        drop_after(0, reset=True),
        status(
            400, {"error": {"message": echoing, "refresh_token": "rt-test-SECRET2"}}
        ),
    )
    proxy = FakeProxy(upstream=fake).start()
    proxy_url = f"http://u:hunter2@127.0.0.1:{proxy.port}"
    client = ChatClient(
        idle_timeout=0.2,
        retry_base_delay=0.01,
        environ={"HTTP_PROXY": proxy_url, "HTTPS_PROXY": proxy_url},
    )

    errors: list[LLMError] = []
    for url in [fake.chat_url] * 6 + ["https://api.remote.test/v1/chat/completions"]:
        req = chat_request(
            url, api_key="at-test-SECRET1", extra_headers={"api-key": "azure-SECRET3"}
        )
        result = await run(client, req)
        if result.error is not None:
            errors.append(result.error)
    await client.aclose()
    proxy.stop()

    assert [e.kind for e in errors] == [
        "auth",
        "rateLimit",
        "network",
        "network",
        "server",
        "network",
    ]
    shown = caplog.text + "\n".join(_everything_about(e) for e in errors)
    for secret in SECRETS:
        assert secret not in shown
    assert "sk-…0000" in str(errors[0])


def test_B63_exception_chain_is_dropped() -> None:
    async def go() -> LLMError:
        client = ChatClient(environ={})
        result = await run(
            client, chat_request("http://127.0.0.1:9/v1/chat/completions")
        )
        await client.aclose()
        assert result.error is not None
        return result.error

    import asyncio

    error = asyncio.run(go())

    assert error.__cause__ is None
    assert error.__context__ is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Authorization: Bearer sk-test-SECRET0000", "Authorization: …", id="header"
        ),
        pytest.param("token Bearer abc.def-ghi", "token Bearer …", id="bearer"),
        pytest.param("key sk-proj-abcdefSECRET0000", "key sk-…0000", id="sk-key"),
        pytest.param(
            "http://u:hunter2@proxy:3128/x", "http://***@proxy:3128/x", id="userinfo"
        ),
        pytest.param(
            '{"access_token": "at-test-SECRET1", "model": "m"}',
            '{"access_token": "…", "model": "m"}',
            id="json-token-field",
        ),
        pytest.param("nothing secret here", "nothing secret here", id="plain"),
    ],
)
def test_scrub(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_scrub_known_secrets() -> None:
    assert scrub("got rt-test-SECRET2 back", ["rt-test-SECRET2"]) == "got rt-…RET2 back"
    assert redacted("short") == "…"


def test_provider_text_is_one_line_and_truncated() -> None:
    text = provider_text("line one\n\tline\x00two " + "y" * 500)

    assert text.startswith("line one line two yyy")
    assert len(text) == 300
    assert text.endswith("…")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x" * 200_000, id="one-long-word"),
        pytest.param("x." * 100_000, id="dotted"),
        pytest.param("a-" * 100_000, id="dashed"),
        pytest.param("sk-" * 70_000, id="key-prefixes"),
        pytest.param("ab+" * 70_000, id="scheme-characters"),
        pytest.param("http://a" * 25_000, id="schemes"),
    ],
)
def test_redaction_is_linear_in_the_text(text: str) -> None:
    """A long line of code or data in a logged message must not stall the server
    (these took minutes with patterns that rescan from inside a word)."""
    import time

    from qwen_ls.log import redact

    started = time.perf_counter()
    redact(text)
    scrub(text)
    assert time.perf_counter() - started < 2
