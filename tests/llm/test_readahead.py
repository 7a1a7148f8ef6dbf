"""read_ahead: a stream read by a task of its own, taken by its consumer in pieces."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

import httpx
import pytest

from qwen_ls.llm import ReasoningDelta, TextDelta
from qwen_ls.llm.readahead import read_ahead
from qwen_ls.llm.sse import ChunkDecoder


class Source:
    """A fill function that puts numbers where `take` finds them."""

    def __init__(self, items: list[int], *, pause_after: int | None = None) -> None:
        self.items = items
        self.pause_after = pause_after
        self.buffer: list[int] = []
        self.ended = asyncio.Event()
        self.error: Exception | None = None

    def take(self) -> list[int]:
        taken, self.buffer = self.buffer, []
        return taken

    async def fill(self, wake: Callable[[], None]) -> None:
        try:
            for i, item in enumerate(self.items):
                self.buffer.append(item)
                wake()
                if i == self.pause_after:
                    await asyncio.sleep(3600)
                await asyncio.sleep(0)
            if self.error is not None:
                raise self.error
        finally:
            self.ended.set()


async def test_everything_arrives_in_order() -> None:
    source = Source(list(range(100)))

    got = [item async for item in read_ahead(source.fill, source.take)]

    assert got == list(range(100))


async def test_what_came_before_an_error_is_taken_first() -> None:
    source = Source([1, 2, 3])
    source.error = ValueError("boom")
    got: list[int] = []

    with pytest.raises(ValueError, match="boom"):
        async for item in read_ahead(source.fill, source.take):
            got.append(item)

    assert got == [1, 2, 3]


async def test_closing_early_ends_the_filling_before_returning() -> None:
    source = Source([1, 2, 3], pause_after=1)

    async with contextlib.aclosing(read_ahead(source.fill, source.take)) as items:
        async for item in items:
            if item == 2:
                break

    assert source.ended.is_set()


async def test_cancelling_the_consumer_ends_the_filling() -> None:
    source = Source([1, 2, 3], pause_after=1)

    async def consume() -> None:
        async with contextlib.aclosing(read_ahead(source.fill, source.take)) as items:
            async for _ in items:
                pass

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert source.ended.is_set()


def _chunk(**delta: str) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": delta}]})


def test_the_decoder_joins_each_run_and_keeps_the_order() -> None:
    decoder = ChunkDecoder(httpx.URL("http://127.0.0.1/v1/chat/completions"))
    for delta in [
        {"reasoning_content": "a"},
        {"reasoning_content": "b"},
        {"content": "c"},
        {"content": "d"},
        {"reasoning": "e"},
    ]:
        decoder.feed("message", _chunk(**delta))

    assert decoder.take() == [
        ReasoningDelta("ab"),
        TextDelta("cd"),
        ReasoningDelta("e"),
    ]
    assert decoder.take() == []
    decoder.feed("message", _chunk(content="f"))
    assert decoder.take() == [TextDelta("f")]
    assert decoder.partial_text == "cdf"
