"""Stopping a request closes the upstream connection at once."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from qwen_ls.llm import ChatClient, ChatRequest, TextDelta
from tests.fakes.openai_server import FakeOpenAI, hang, slow_tokens


async def _first_token(
    client: ChatClient, req: ChatRequest, got: asyncio.Event
) -> None:
    async for event in client.stream_chat(req):
        if isinstance(event, TextDelta):
            got.set()


async def test_B56_cancelling_the_task_closes_the_connection(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(slow_tokens(60, 1.0))
    got = asyncio.Event()
    task = asyncio.create_task(_first_token(client, req, got))
    await asyncio.wait_for(got.wait(), 5)

    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert fake.wait_for_disconnect(1)
    assert fake.disconnects[0] - cancelled_at < 0.1


async def test_B56_closing_the_generator_closes_the_connection(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(slow_tokens(60, 1.0))
    stream = client.stream_chat(req)
    assert isinstance(await stream.__anext__(), TextDelta)

    closed_at = time.monotonic()
    await stream.aclose()

    assert fake.wait_for_disconnect(1)
    assert fake.disconnects[0] - closed_at < 0.1


async def test_B56_breaking_out_under_aclosing_closes_the_connection(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(slow_tokens(60, 1.0))

    async with contextlib.aclosing(client.stream_chat(req)) as stream:
        async for _event in stream:
            break
    closed_at = time.monotonic()

    assert fake.wait_for_disconnect(1)
    assert fake.disconnects[0] - closed_at < 0.1


async def test_B56_cancel_while_waiting_for_the_first_byte(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(hang(30, send_headers=False))
    task = asyncio.create_task(_first_token(client, req, asyncio.Event()))
    await asyncio.sleep(0.3)

    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert fake.wait_for_disconnect(1)
    assert fake.disconnects[0] - cancelled_at < 0.1


async def test_B56_other_streams_keep_running(
    fake: FakeOpenAI, client: ChatClient, req: ChatRequest
) -> None:
    fake.script(slow_tokens(60, 1.0), slow_tokens(3, 0.1))
    got = asyncio.Event()
    doomed = asyncio.create_task(_first_token(client, req, got))
    await asyncio.wait_for(got.wait(), 5)

    survivor = asyncio.create_task(_first_token(client, req, asyncio.Event()))
    await asyncio.sleep(0.05)
    doomed.cancel()
    await asyncio.wait_for(survivor, 5)

    assert doomed.cancelled()
    assert len(fake.disconnects) == 1
