"""Reading event streams: framing, splits, endings, in-band errors and reasoning."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from httpx_sse import aconnect_sse

from qwen_ls.llm import (
    BadResponseError,
    ChatClient,
    ChatRequest,
    Finish,
    NetworkError,
    ReasoningDelta,
    ServerError,
    TextDelta,
    Usage,
)
from tests.fakes.openai_server import (
    FakeOpenAI,
    Response,
    content_chunks,
    drop_after,
    slow_tokens,
    sse,
    status,
    text_stream,
)

from .conftest import chat_request, run


def delta(content: str | None, finish: str | None = None, **extra: object) -> dict:
    d: dict[str, object] = {"content": content, **extra}
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


async def test_plain_stream_gives_text_usage_and_finish(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(text_stream("Hello world", pieces=["Hello", " world"]))

    result = await run(client, req)

    assert result.error is None
    assert result.joined == [
        TextDelta("Hello world"),
        Usage(prompt_tokens=5, completion_tokens=2, total_tokens=7),
        Finish("stop"),
    ]


B34_BODY = (
    b": OPENROUTER PROCESSING\n\n"
    b":\n\n"
    b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
    b": ping - 2026-01-01 00:00:00\n\n"
    b'data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}'
    b"\n\n"
    b"data: [DONE]\n\n"
)


async def test_B34_comment_lines_are_ignored(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(sse([B34_BODY], done=False, finish_reason=None))

    result = await run(client, req)

    assert result.error is None
    assert result.text == "Hello"
    assert result.joined == [TextDelta("Hello"), Finish("stop")]


async def test_B34_comments_count_as_activity_for_the_idle_timeout(
    fake: FakeOpenAI, req: ChatRequest
) -> None:
    pings = [b": keep-alive\n\n"] * 6
    fake.script(sse([*pings, *content_chunks(["late answer"])], delay=0.1))
    client = ChatClient(idle_timeout=0.3, environ={})

    result = await run(client, req)
    await client.aclose()

    assert result.error is None
    assert result.text == "late answer"


async def test_B37_data_without_space(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    body = (
        b'data:{"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n'
        b'data:  {"choices":[{"index":0,"delta":{"content":"!"},'
        b'"finish_reason":"stop"}]}\n\n'
        b"data:[DONE]\n\n"
    )
    fake.script(sse([body], done=False, keep_open_after=5, finish_reason=None))

    started = time.monotonic()
    result = await run(client, req)

    assert result.text == "ok!"
    assert result.finish == Finish("stop")
    assert time.monotonic() - started < 1  # data:[DONE] ended it


B38_FULL = (
    b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\r\n\r\n'
    b'data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}'
    b"\r\n\r\n"
    b"data: [DONE]\r\n\r\n"
)


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(B38_FULL.index(b"ta: "), id="inside-data-prefix"),
        pytest.param(B38_FULL.index(b'tent"'), id="inside-json"),
        pytest.param(B38_FULL.index(b"\n"), id="between-cr-and-lf"),
        pytest.param(B38_FULL.index(b"NE]"), id="inside-done"),
    ],
)
async def test_B38_named_splits(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, cut: int
) -> None:
    fake.script(sse([B38_FULL], done=False, split_at=[cut], finish_reason=None))

    result = await run(client, req)

    assert result.joined == [TextDelta("Hello"), Finish("stop")]


async def test_B38_split_at_every_offset(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    for cut in range(1, len(B38_FULL)):
        fake.script(sse([B38_FULL], done=False, split_at=[cut], finish_reason=None))
        result = await run(client, req)
        assert result.joined == [TextDelta("Hello"), Finish("stop")], cut


async def test_B38_one_byte_reads(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(sse([B38_FULL], done=False, chunk_size=1, finish_reason=None))

    result = await run(client, req)

    assert result.joined == [TextDelta("Hello"), Finish("stop")]


# Multi-byte characters (2, 3 and 4 bytes), raw U+2028/U+0085 inside a JSON string
# (not line breaks for SSE) and lone CR line endings, cut at every byte offset.
MULTIBYTE_TEXT = "Grüße, 世界 😀\u2028x\x85y"
MULTIBYTE_FULL = (
    b": comment\r"
    + ("data: " + json.dumps(delta(MULTIBYTE_TEXT), ensure_ascii=False)).encode()
    + b"\r\r"
    + ("data: " + json.dumps(delta("…", "stop"), ensure_ascii=False)).encode()
    + b"\n\ndata: [DONE]\n\n"
)


async def test_B38_multibyte_characters_split_at_every_offset(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    expected = [TextDelta(MULTIBYTE_TEXT + "…"), Finish("stop")]
    for cut in range(1, len(MULTIBYTE_FULL)):
        fake.script(
            sse([MULTIBYTE_FULL], done=False, split_at=[cut], finish_reason=None)
        )
        result = await run(client, req)
        assert result.joined == expected, cut

    fake.script(sse([MULTIBYTE_FULL], done=False, chunk_size=1, finish_reason=None))
    assert (await run(client, req)).joined == expected


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/event-stream; charset=iso-8859-1", id="wrong-charset"),
        pytest.param("text/event-stream;charset=UTF-8", id="explicit-utf8"),
    ],
)
async def test_stream_is_utf8_whatever_the_charset_says(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, content_type: str
) -> None:
    fake.script(
        sse(
            [MULTIBYTE_FULL],
            done=False,
            finish_reason=None,
            chunk_size=1,
            headers={"Content-Type": content_type},
        )
    )

    assert (await run(client, req)).text == MULTIBYTE_TEXT + "…"


async def test_leading_byte_order_mark_is_skipped(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(
        sse([b"\xef\xbb\xbf" + B38_FULL], done=False, chunk_size=2, finish_reason=None)
    )

    assert (await run(client, req)).text == "Hello"


async def test_httpx_sse_still_needs_the_utf8_workaround(fake: FakeOpenAI) -> None:
    """When this fails, httpx-sse decodes as the SSE spec says and the
    ``response.encoding`` override in the client can go."""
    latin1 = {"Content-Type": "text/event-stream; charset=iso-8859-1"}
    fake.script(
        sse([delta("ü")], headers=latin1, finish_reason=None),
        sse([b"\xef\xbb\xbf", delta("first")], finish_reason=None),
    )
    seen = []
    async with httpx.AsyncClient() as client:
        for _ in range(2):
            async with aconnect_sse(client, "POST", fake.chat_url) as source:
                seen.append([e.data async for e in source.aiter_sse()])

    assert "ü" not in seen[0][0]  # decoded as latin-1
    assert seen[1] == ["[DONE]"]  # the event after the BOM is lost


async def test_empty_choices_null_content_and_usage_only_chunk(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(
        sse(
            [
                {"choices": []},
                delta(None, role="assistant"),
                delta("Hi"),
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
            ]
        )
    )

    result = await run(client, req)

    assert result.events == [TextDelta("Hi"), Usage(3, 1, 4), Finish("stop")]


async def test_event_without_data_and_unknown_event_types_are_skipped(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(
        sse(
            [
                b"event: ping\n\n",
                b"event: ping\ndata: not json\n\n",
                b"id: 1\nretry: 1000\n\n",
                *content_chunks(["fine"]),
            ]
        )
    )

    assert (await run(client, req)).text == "fine"


async def test_non_json_data_is_a_bad_response_keeping_the_partial_text(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(sse([delta("Par"), b"data: {broken\n\n"]))

    result = await run(client, req)

    assert isinstance(result.error, BadResponseError)
    assert (
        str(result.error) == f"unreadable event from 127.0.0.1:{fake.port} (not JSON)"
    )
    assert result.error.partial_text == "Par"


async def test_B40_A_close_without_done_or_finish_reason_is_truncated(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(
        sse(
            [delta("Hel"), delta("lo")], done=False, framing="close", finish_reason=None
        )
    )

    result = await run(client, req)

    assert result.text == "Hello"
    assert result.finish is None
    assert isinstance(result.error, BadResponseError)
    assert result.error.kind == "badResponse"
    assert str(result.error) == "response truncated (connection closed)"
    assert result.error.partial_text == "Hello"


async def test_B40_A_connection_cut_mid_chunked_body_after_text(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, sleeps: list[float]
) -> None:
    stream = text_stream("Hello world, how are you?", pieces=6)
    cut = len(stream.pieces[0]) + 10  # the first delta, then part of the second
    fake.script(drop_after(cut, stream))

    result = await run(client, req)

    assert isinstance(result.error, NetworkError)
    assert str(result.error).startswith(f"connection to 127.0.0.1:{fake.port} lost")
    assert result.error.partial_text == "Hello"
    assert sleeps == []  # never retried once text was shown
    assert len(fake.chat_requests()) == 1


async def test_B40_B_finish_reason_then_close_without_done(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(
        sse(
            content_chunks(["Hel", "lo"]),
            done=False,
            framing="close",
            finish_reason=None,
        )
    )

    result = await run(client, req)

    assert result.error is None
    assert result.events[-1] == Finish("stop")
    assert result.text == "Hello"


async def test_B40_B_finish_reason_then_silence_ends_at_idle_timeout_as_success(
    fake: FakeOpenAI, req: ChatRequest
) -> None:
    fake.script(
        sse(
            content_chunks(["Hello"]), done=False, keep_open_after=5, finish_reason=None
        )
    )
    client = ChatClient(idle_timeout=0.2, environ={})

    result = await run(client, req)
    await client.aclose()

    assert result.error is None
    assert result.finish == Finish("stop")


async def test_B40_C_done_ends_at_once_although_the_socket_stays_open(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(
        sse(content_chunks(["Hel", "lo"]), keep_open_after=60, finish_reason=None)
    )

    started = time.monotonic()
    result = await run(client, req)

    assert time.monotonic() - started < 1
    assert result.error is None
    assert result.text == "Hello"
    assert fake.wait_for_disconnect(1)  # and the connection was closed


async def test_B40_D_done_without_any_finish_reason(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(sse([delta("Hel"), delta("lo")], finish_reason=None))

    result = await run(client, req)

    assert result.error is None
    assert result.joined == [TextDelta("Hello"), Finish("stop")]


async def test_B40_E_finish_reason_length(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(text_stream("Hello", finish_reason="length"))

    result = await run(client, req)

    assert result.error is None
    assert result.finish == Finish("length")


async def test_B42_A_error_first_with_context_hint_and_no_retry(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, sleeps: list[float]
) -> None:
    error = {
        "error": {
            "message": "the context window is full",
            "type": "server_error",
            "code": "context_length_exceeded",
        }
    }
    fake.script(sse([error], done=False, framing="close", finish_reason=None))

    result = await run(client, req)

    assert isinstance(result.error, ServerError)
    assert result.error.kind == "server"
    assert str(result.error) == (
        f"error from 127.0.0.1:{fake.port}: the context window is full; the request "
        "is too long for the model's context window; send a smaller selection or "
        "fewer files"
    )
    assert sleeps == []
    assert len(fake.chat_requests()) == 1


async def test_B42_B_error_event_after_text_keeps_partial_and_is_not_retried(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, sleeps: list[float]
) -> None:
    error_event = (
        b"event: error\n"
        b'data: {"error":{"message":"Overloaded","type":"overloaded_error"}}\n\n'
    )
    fake.script(
        sse([delta("Par"), delta("tial"), error_event], done=False, finish_reason=None)
    )

    result = await run(client, req)

    assert result.text == "Partial"
    assert isinstance(result.error, ServerError)
    assert str(result.error) == f"error from 127.0.0.1:{fake.port}: Overloaded"
    assert result.error.partial_text == "Partial"
    assert sleeps == []


async def test_B42_C_flat_error_object(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, sleeps: list[float]
) -> None:
    flat = {"object": "error", "message": "Rate limit exceeded", "code": "1300"}
    fake.script(
        sse([flat], done=False, finish_reason=None),
        sse([flat], done=False, finish_reason=None),
    )

    result = await run(client, req)

    assert isinstance(result.error, ServerError)
    assert str(result.error) == f"error from 127.0.0.1:{fake.port}: Rate limit exceeded"
    assert len(sleeps) == 1  # one retry, as nothing was shown yet
    assert len(fake.chat_requests()) == 2


async def test_B42_transient_error_before_text_is_retried_once_then_succeeds(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest, sleeps: list[float]
) -> None:
    overloaded = b'event: error\ndata: {"error":{"message":"Overloaded"}}\n\n'
    fake.script(sse([overloaded], done=False, finish_reason=None), text_stream("ok"))

    result = await run(client, req)

    assert result.error is None
    assert result.text == "ok"
    assert [r.reason for r in result.retries] == ["server overloaded"]


B43_BODY = [
    delta(None, role="assistant", reasoning_content="Let me think."),
    {"choices": [{"index": 0, "delta": {"reasoning": " Check edge cases."}}]},
    delta("Use a set.", "stop"),
]


async def test_B43_reasoning_is_a_separate_channel(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(sse(B43_BODY))

    result = await run(client, req)

    assert result.error is None
    assert result.text == "Use a set."
    assert result.reasoning == "Let me think. Check edge cases."
    assert result.joined == [
        ReasoningDelta("Let me think. Check edge cases."),
        TextDelta("Use a set."),
        Finish("stop"),
    ]


async def test_B43_reasoning_but_no_answer_is_an_error(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(sse(B43_BODY[:2], finish_reason="stop"))

    result = await run(client, req)

    assert isinstance(result.error, BadResponseError)
    assert str(result.error) == "model returned reasoning but no answer"
    assert result.reasoning == "Let me think. Check edge cases."


async def test_empty_answer_is_an_error(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(sse([delta("")], finish_reason="length"))

    result = await run(client, req)

    assert isinstance(result.error, BadResponseError)
    assert str(result.error) == "model returned an empty answer (finish reason: length)"


async def test_idle_timeout_ends_a_silent_stream(
    fake: FakeOpenAI, req: ChatRequest
) -> None:
    fake.script(sse([delta("Hel"), delta("lo")], delay=1.0))
    client = ChatClient(idle_timeout=0.3, environ={})

    started = time.monotonic()
    result = await run(client, req)
    await client.aclose()

    assert 0.25 < time.monotonic() - started < 0.9
    assert isinstance(result.error, NetworkError)
    assert str(result.error) == f"no data from 127.0.0.1:{fake.port} for 0.3 s"
    assert result.error.partial_text == "Hel"


async def test_idle_timeout_can_change_between_requests(
    fake: FakeOpenAI, req: ChatRequest
) -> None:
    client = ChatClient(idle_timeout=5, environ={})
    client.idle_timeout = 0.2
    fake.script(sse([delta("a"), delta("b", "stop")], delay=0.5))

    result = await run(client, req)
    await client.aclose()

    assert str(result.error) == f"no data from 127.0.0.1:{fake.port} for 0.2 s"
    with pytest.raises(ValueError):
        client.idle_timeout = 0


async def test_server_that_ignores_stream_true_answers_json(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    completion = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Whole answer"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
    }
    fake.script(status(200, completion))

    result = await run(client, req)

    assert result.events == [TextDelta("Whole answer"), Usage(4, 2, 6), Finish("stop")]


async def test_non_stream_non_json_200_is_a_bad_response(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(status(200, "<html>portal login</html>"))

    result = await run(client, req)

    assert isinstance(result.error, BadResponseError)
    assert str(result.error) == (
        f"127.0.0.1:{fake.port} answered with neither an event stream nor JSON"
    )


async def test_many_concurrent_streams(fake: FakeOpenAI, client: ChatClient) -> None:
    import asyncio

    def answer(request: object) -> Response:
        return text_stream("x" * 20, pieces=10, delay=0.02)

    fake.default = answer
    requests = [chat_request(fake.chat_url) for _ in range(60)]

    started = time.monotonic()
    results = await asyncio.gather(*(run(client, r) for r in requests))

    assert all(r.error is None and r.text == "x" * 20 for r in results)
    assert time.monotonic() - started < 5


# Reading ahead (qwen_ls/llm/readahead.py): what arrives in one read comes as one
# piece; what arrives alone is passed on before the next piece is sent.


async def test_a_burst_comes_in_few_pieces_and_whole(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    pieces = [f" w{i}" for i in range(2_000)]
    fake.script(text_stream("".join(pieces), pieces=pieces, split_at=[]))

    result = await run(client, req)

    assert result.error is None
    assert result.text == "".join(pieces)
    deltas = [e for e in result.events if isinstance(e, TextDelta)]
    assert len(deltas) < 100, "one write of 2,000 tokens is relayed in a few pieces"
    assert result.events[-2:] == [Usage(5, 2_000, 2_005), Finish("stop")]


async def test_each_slow_token_is_passed_on_before_the_next_is_sent(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(slow_tokens(4, 0.1, token="tok "))

    result = await run(client, req)

    # Had the consumer waited for more, tokens 0.1 s apart would have come joined.
    deltas = [e for e in result.events if isinstance(e, TextDelta)]
    assert deltas == [TextDelta("tok ")] * 4


async def test_text_before_an_error_comes_first(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(
        sse(
            [
                delta("Hel"),
                delta("lo"),
                b'data: {"error": {"message": "overloaded"}}\n\n',
            ],
            done=False,
            finish_reason=None,
        )
    )

    result = await run(client, req)

    assert result.joined == [TextDelta("Hello")]
    assert isinstance(result.error, ServerError)
    assert result.error.partial_text == "Hello"
