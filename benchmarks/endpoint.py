"""A fast OpenAI-compatible streaming endpoint on 127.0.0.1 for the benchmark.

It runs in a process of its own, so that it takes the GIL of neither the server nor
the benchmark, and it does almost no work per request: every stream is built once
and cached. ``POST .../chat/completions`` answers a stream whose shape the model name
sets, ``bench-t<tokens>-d<delay ms>`` (for example ``bench-t500-d0``): ``tokens``
content deltas, one chunked write each, then a finish chunk, a usage chunk and
``[DONE]``. Without a delay the whole body goes out in one write. ``GET /stats``
answers ``{"requests": n, "early_closes": [t, ...]}``: the ``time.monotonic()``
(system-wide on Linux) at which a client closed a connection while its stream was
still being sent.

Run as ``python -m benchmarks.endpoint``: it prints its base URL and serves until
its standard input closes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import socket
import sys
import threading
import time
from typing import Any

_MODEL = re.compile(r"bench-t(\d+)-d(\d+)")
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def token(i: int) -> str:
    """The text of the ``i``-th token of every answer (about 4 characters)."""
    return f" w{i % 1000}"


def answer(tokens: int) -> str:
    """The whole text of an answer of ``tokens`` tokens."""
    return "".join(token(i) for i in range(tokens))


def model_name(tokens: int, delay_ms: int = 0) -> str:
    return f"bench-t{tokens}-d{delay_ms}"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(obj: Any) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
    return _chunk(f"data: {data}\n\n".encode())


def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@functools.lru_cache(maxsize=16)
def stream_pieces(tokens: int) -> tuple[bytes, ...]:
    """The response head and each chunk of the body, ready to write."""
    pieces = [_SSE_HEAD]
    for i in range(tokens):
        delta = {"content": token(i)}
        if i == 0:
            delta["role"] = "assistant"
        pieces.append(_event(_delta(delta)))
    pieces.append(_event(_delta({}, "stop")))
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": tokens,
        "total_tokens": 10 + tokens,
    }
    usage_chunk = {"object": "chat.completion.chunk", "choices": [], "usage": usage}
    pieces.append(_event(usage_chunk))
    pieces.append(_event("[DONE]"))
    pieces.append(b"0\r\n\r\n")
    return tuple(pieces)


@functools.lru_cache(maxsize=16)
def stream_body(tokens: int) -> bytes:
    return b"".join(stream_pieces(tokens))


def _plain(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Stats:
    def __init__(self) -> None:
        self.requests = 0
        self.early_closes: list[float] = []


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests arrive one after another."""

    def __init__(self, stats: Stats) -> None:
        self._stats = stats
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._sending: asyncio.Task[None] | None = None
        self._streaming = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        transport = self._transport
        unsent = transport is not None and transport.get_write_buffer_size() > 0
        if self._streaming or unsent:
            self._stats.early_closes.append(time.monotonic())
        if self._sending is not None:
            self._sending.cancel()
        self._streaming = False

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (request := self._take_request()) is not None:
            self._answer(*request)

    def _take_request(self) -> tuple[str, str, bytes] | None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self._buffer[:end]).decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(self._buffer) < end + 4 + length:
            return None
        body = bytes(self._buffer[end + 4 : end + 4 + length])
        del self._buffer[: end + 4 + length]
        method, path, _ = head.split(" ", 2)
        return method, path, body

    def _answer(self, method: str, path: str, body: bytes) -> None:
        assert self._transport is not None
        self._stats.requests += 1
        if method == "GET" and path == "/stats":
            stats = {
                "requests": self._stats.requests,
                "early_closes": self._stats.early_closes,
            }
            self._transport.write(_plain("200 OK", json.dumps(stats).encode()))
            return
        if method != "POST" or not path.endswith("/chat/completions"):
            self._transport.write(_plain("404 Not Found", b'{"error":"no route"}'))
            return
        found = _MODEL.fullmatch(str(json.loads(body).get("model", "")))
        if found is None:
            message = b'{"error":{"message":"model must be bench-t<N>-d<ms>"}}'
            self._transport.write(_plain("400 Bad Request", message))
            return
        tokens, delay_ms = int(found[1]), int(found[2])
        if delay_ms == 0:
            self._transport.write(stream_body(tokens))
            return
        self._streaming = True
        self._sending = asyncio.ensure_future(self._trickle(tokens, delay_ms / 1000))

    async def _trickle(self, tokens: int, delay: float) -> None:
        assert self._transport is not None
        pieces = stream_pieces(tokens)
        self._transport.write(pieces[0] + pieces[1])
        for piece in pieces[2:]:
            await asyncio.sleep(delay)
            self._transport.write(piece)
        self._streaming = False


async def serve() -> None:
    """Serve until standard input closes (the benchmark is gone)."""
    loop = asyncio.get_running_loop()
    stats = Stats()
    server = await loop.create_server(
        lambda: _Connection(stats), "127.0.0.1", 0, backlog=256
    )
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/v1", flush=True)

    stdin_closed = loop.create_future()

    def wait_for_eof() -> None:
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stdin_closed.set_result, None)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    async with server:
        await stdin_closed


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
