"""Reading a stream ahead of its consumer, so that what the consumer does per event
(relaying it to the editor) is done once per network read instead of once per token.

A fast server sends hundreds of tokens per read; the consumer gets them as one
piece. A slow one sends a token per read, and each is passed on at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def read_ahead(
    fill: Callable[[Callable[[], None]], Awaitable[None]],
    take: Callable[[], list[T]],
) -> AsyncGenerator[T, None]:
    """Run ``fill(wake)`` in a task of its own, which calls ``wake()`` whenever there
    is something new to ``take()``; yield what ``take`` returns, whenever this
    generator's consumer gets to run. An error of ``fill`` is raised after what was
    taken before it. Closing this generator, or cancelling its consumer, cancels
    ``fill`` and waits for it to end."""
    arrived = asyncio.Event()

    def wake() -> None:
        if not arrived.is_set():
            arrived.set()

    async def run() -> None:
        try:
            await fill(wake)
        finally:
            arrived.set()

    filler = asyncio.ensure_future(run())
    try:
        while True:
            items = take()
            if items:
                for item in items:
                    yield item
                continue
            if filler.done():
                break
            await arrived.wait()
            arrived.clear()
        filler.result()
    finally:
        if not filler.done():
            filler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await filler
