"""A fake OpenAI-compatible server on 127.0.0.1 for unit tests, end-to-end tests and
benchmarks, plus a fake HTTP proxy that answers requests itself.

Usage::

    with FakeOpenAI() as fake:                    # free port, background threads
        fake.script(text_stream("Hello"), status(429, headers={"Retry-After": "1"}))
        ...  # POST f"{fake.base_url}/chat/completions" takes the scripted answers
        fake.requests[0].json["model"], fake.requests[0].header("authorization")

Routing:

- ``POST <any prefix>/chat/completions`` takes the next item queued with
  :meth:`FakeOpenAI.script` (a :class:`Response`, or a callable that receives the
  :class:`RecordedRequest` and returns one); when the queue is empty it uses
  ``fake.default`` (a stream echoing the last user message).
- ``GET <any prefix>/models`` answers ``{"data": [{"id": ...}]}`` when
  ``fake.models`` is a list, else 404.
- ``fake.routes["GET /v1/models"] = status(405)`` overrides any method and exact path.
- Anything else answers 404 with a JSON error body.

Every request is recorded in ``fake.requests``; ``fake.connections`` counts accepted
TCP connections. When a client closes a connection
before the server finished its response (between writes, while silent, or while a
stream is held open), the monotonic time goes to ``fake.disconnects``;
:meth:`FakeOpenAI.wait_for_disconnect` waits for it. Streams are sent with chunked
transfer encoding by default, so every piece given to :func:`sse` (or produced by
``split_at``/``chunk_size``) reaches the client as a separate read.

Standalone, for manual tries and benchmarks::

    python -m tests.fakes.openai_server --port 8000 --tokens 200 --delay 0.01
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import json
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Framing = Literal["chunked", "close", "length"]
Chunk = str | dict[str, Any] | bytes


@dataclass
class RecordedRequest:
    """One request as the fake server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    time: float

    def header(self, name: str) -> str | None:
        """The value of header ``name``, looked up case-insensitively."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass
class Response:
    """What the fake sends for one request; build it with the helpers below."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    pieces: list[bytes] = field(default_factory=list)
    delay: float = 0.0
    """Pause before every piece after the first."""
    framing: Framing = "chunked"
    keep_open_after: float = 0.0
    """Seconds to stay silent after the last piece before ending the body."""
    drop_after: int | None = None
    """Close the TCP connection once this many body bytes were sent."""
    reset: bool = False
    """Close with a TCP reset instead of an orderly shutdown when dropping."""
    silence_before_headers: float = 0.0
    silence_after_headers: float = 0.0
    close_without_response: bool = False


Script = Response | Callable[[RecordedRequest], Response]

_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def _encode_chunk(chunk: Chunk) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, dict):
        chunk = json.dumps(chunk, ensure_ascii=False)
    return f"data: {chunk}\n\n".encode()


def _cut(data: bytes, offsets: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted(o for o in offsets if 0 < o < len(data)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def sse(
    chunks: Iterable[Chunk],
    *,
    done: bool = True,
    finish_reason: str | None = "stop",
    usage: dict[str, int] | None = None,
    delay: float = 0.0,
    split_at: list[int] | None = None,
    chunk_size: int | None = None,
    keep_open_after: float = 0.0,
    framing: Framing = "chunked",
    drop_after: int | None = None,
    reset: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    """An event stream made of ``chunks``.

    A dict becomes ``data: <json>``, a str ``data: <str>`` (so ``"[DONE]"`` works),
    bytes are sent exactly as given (comments, CRLF, ``data:`` without space,
    ``event: error``). ``finish_reason`` adds a chunk with an empty delta carrying it
    (pass None for a stream without one); ``usage`` adds a usage-only chunk with
    empty ``choices``; ``done`` appends ``data: [DONE]``. Each chunk is one write
    unless ``split_at`` (byte offsets into the whole body) or ``chunk_size`` re-cut
    the body.
    """
    parts = [_encode_chunk(c) for c in chunks]
    if finish_reason is not None:
        parts.append(_encode_chunk(_choice_chunk({}, finish_reason)))
    if usage is not None:
        parts.append(
            _encode_chunk(
                {"object": "chat.completion.chunk", "choices": [], "usage": usage}
            )
        )
    if done:
        parts.append(_encode_chunk("[DONE]"))
    body = b"".join(parts)
    if split_at is not None:
        parts = _cut(body, split_at)
    elif chunk_size is not None:
        parts = _cut(body, range(chunk_size, len(body), chunk_size))
    return Response(
        status=200,
        headers={**_SSE_HEADERS, **(headers or {})},
        pieces=parts,
        delay=delay,
        framing=framing,
        keep_open_after=keep_open_after,
        drop_after=drop_after,
        reset=reset,
    )


def _choice_chunk(
    delta: dict[str, Any], finish_reason: str | None = None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def content_chunks(
    pieces: Sequence[str], *, finish_reason: str | None = "stop"
) -> list[dict[str, Any]]:
    """Content deltas, the first with the assistant role, the last with the reason."""
    out = []
    for i, piece in enumerate(pieces):
        delta: dict[str, Any] = {"content": piece}
        if i == 0:
            delta["role"] = "assistant"
        last = i == len(pieces) - 1
        out.append(_choice_chunk(delta, finish_reason if last else None))
    return out


def text_stream(
    text: str,
    *,
    pieces: int | Sequence[str] = 3,
    finish_reason: str | None = "stop",
    usage: dict[str, int] | None = None,
    **kwargs: Any,
) -> Response:
    """A typical stream answering ``text``: content deltas, ``finish_reason`` on the
    last, a usage chunk with empty choices, ``[DONE]``. ``pieces`` is a count of
    roughly equal pieces or the pieces themselves. Other arguments go to :func:`sse`.
    """
    if isinstance(pieces, int):
        step = max(1, -(-len(text) // max(1, pieces)))
        parts = [text[i : i + step] for i in range(0, len(text), step)] or [""]
    else:
        parts = list(pieces)
    if usage is None:
        usage = {
            "prompt_tokens": 5,
            "completion_tokens": len(parts),
            "total_tokens": 5 + len(parts),
        }
    chunks = content_chunks(parts, finish_reason=finish_reason)
    return sse(chunks, finish_reason=None, usage=usage, **kwargs)


def status(
    code: int,
    body: bytes | str | dict[str, Any] = b"",
    headers: dict[str, str] | None = None,
) -> Response:
    """A plain response with a Content-Length; a dict body is sent as JSON."""
    out_headers: dict[str, str] = {}
    if isinstance(body, dict):
        data = json.dumps(body).encode()
        out_headers["Content-Type"] = "application/json"
    elif isinstance(body, str):
        data = body.encode()
        out_headers["Content-Type"] = "text/plain; charset=utf-8"
    else:
        data = body
    out_headers.update(headers or {})
    return Response(
        status=code,
        headers=out_headers,
        pieces=[data] if data else [],
        framing="length",
    )


def hang(seconds: float, *, send_headers: bool = True) -> Response:
    """Stay silent for ``seconds`` (after the SSE headers, or before anything)."""
    if send_headers:
        return Response(headers=dict(_SSE_HEADERS), silence_after_headers=seconds)
    return Response(silence_before_headers=seconds)


def slow_tokens(n: int, interval: float, *, token: str = "tok ") -> Response:
    """``n`` content deltas, one per ``interval`` seconds, then finish and [DONE]."""
    chunks = [_encode_chunk(c) for c in content_chunks([token] * n)]
    chunks.append(_encode_chunk("[DONE]"))
    return Response(headers=dict(_SSE_HEADERS), pieces=chunks, delay=interval)


def drop_after(
    bytes_count: int, response: Response | None = None, *, reset: bool = False
) -> Response:
    """``response`` (default: a short text stream) cut off after ``bytes_count`` body
    bytes by closing the TCP connection (with a reset when ``reset``)."""
    base = (
        response
        if response is not None
        else text_stream("Hello world, how are you?", pieces=6)
    )
    base.drop_after = bytes_count
    base.reset = reset
    return base


def disconnect(*, reset: bool = False) -> Response:
    """Read the request, then close the connection without answering."""
    return Response(close_without_response=True, reset=reset)


def _echo(request: RecordedRequest) -> Response:
    text = "echo"
    body = request.json if isinstance(request.json, dict) else {}
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                text = f"echo: {content}"
            break
    return text_stream(text)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    owner: FakeOpenAI | FakeProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection errors are expected here; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        owner = self.server.owner
        context = getattr(owner, "ssl_context", None)
        if context is not None:
            self.request = context.wrap_socket(self.request, server_side=True)
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        owner._track(self.request, True)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.request, False)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        self.server.owner._handle(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_CONNECT = _dispatch


class _Connection:
    """Writes one :class:`Response` to a socket, watching for the client leaving."""

    def __init__(self, handler: _Handler, stopping: threading.Event) -> None:
        self.handler = handler
        self.sock: socket.socket = handler.request
        self.stopping = stopping

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; False as soon as the client closed the connection."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if self.stopping.is_set():
                return False
            try:
                readable, _, _ = select.select(
                    [self.sock], [], [], min(remaining, 0.05)
                )
            except (OSError, ValueError):
                return False
            if readable and not self._still_open():
                return False

    def _still_open(self) -> bool:
        if isinstance(self.sock, ssl.SSLSocket):
            time.sleep(0.005)
            return True
        try:
            data = self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        time.sleep(0.005)
        return True

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def abort(self, reset: bool) -> None:
        """Close the connection now (the handler's reader holds a reference to the
        socket, which would otherwise delay the real close and the reset)."""
        if reset:
            self.sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        else:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        self.handler.rfile.close()
        self.sock.close()
        self.handler.close_connection = True

    def serve(self, response: Response) -> bool:
        """Send ``response``; False when the client left before it was complete."""
        if response.silence_before_headers and not self.wait(
            response.silence_before_headers
        ):
            return False
        if response.close_without_response:
            self.abort(response.reset)
            return True
        if not self.send(self._head(response)):
            return False
        if response.silence_after_headers:
            if not self.wait(response.silence_after_headers):
                return False
            self.abort(False)
            return True
        sent = self._send_body(response)
        if sent is not True:
            return sent is None
        if response.keep_open_after and not self.wait(response.keep_open_after):
            return False
        if response.framing == "chunked" and not self.send(b"0\r\n\r\n"):
            return False
        if response.framing == "close":
            self.abort(False)
        return True

    def _head(self, response: Response) -> bytes:
        reason = self.handler.responses.get(response.status, ("Unknown",))[0]
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        lines += [f"{k}: {v}" for k, v in response.headers.items()]
        if response.framing == "chunked":
            lines.append("Transfer-Encoding: chunked")
        elif response.framing == "length":
            lines.append(f"Content-Length: {sum(len(p) for p in response.pieces)}")
        else:
            lines.append("Connection: close")
            self.handler.close_connection = True
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send_body(self, response: Response) -> bool | None:
        """True when sent, None when cut off on purpose, False if the client left."""
        sent = 0
        for i, piece in enumerate(response.pieces):
            if i and response.delay and not self.wait(response.delay):
                return False
            if (
                response.drop_after is not None
                and sent + len(piece) >= response.drop_after
            ):
                self._send_piece(piece[: response.drop_after - sent], response.framing)
                self.abort(response.reset)
                return None
            if not self._send_piece(piece, response.framing):
                return False
            sent += len(piece)
        if response.drop_after is not None:
            self.abort(response.reset)
            return None
        return True

    def _send_piece(self, piece: bytes, framing: Framing) -> bool:
        if not piece:
            return True
        if framing == "chunked":
            piece = b"%x\r\n%s\r\n" % (len(piece), piece)
        return self.send(piece)


class _Base:
    """Thread and socket bookkeeping shared by the fake server and the fake proxy."""

    ssl_context: ssl.SSLContext | None = None
    scheme = "http"

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self.connections = 0
        """How many TCP connections were accepted."""

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    def _start(self) -> None:
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.owner = self  # type: ignore[assignment]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and cut every open connection."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def _track(self, sock: socket.socket, is_open: bool) -> None:
        with self._lock:
            if is_open:
                self.connections += 1
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def _handle(self, handler: _Handler) -> None:
        raise NotImplementedError


class FakeOpenAI(_Base):
    """The fake OpenAI-compatible server; see the module docstring."""

    def __init__(
        self, port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(port)
        self.ssl_context = ssl_context
        self.requests: list[RecordedRequest] = []
        self.disconnects: list[float] = []
        self.models: list[str] | None = None
        self.routes: dict[str, Response] = {}
        self.default: Script = _echo
        self._queue: collections.deque[Script] = collections.deque()
        self._disconnected = threading.Condition(self._lock)

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v1"

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def start(self) -> FakeOpenAI:
        self._start()
        return self

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *responses: Script) -> None:
        """Queue answers for the next chat-completion POSTs, in order."""
        with self._lock:
            self._queue.extend(responses)

    def wait_for_disconnect(self, timeout: float, count: int = 1) -> bool:
        """Wait until at least ``count`` early disconnects were seen."""
        with self._disconnected:
            return self._disconnected.wait_for(
                lambda: len(self.disconnects) >= count, timeout
            )

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _record(self, handler: _Handler, path: str) -> RecordedRequest:
        body = handler._read_body()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        request = RecordedRequest(
            method=handler.command,
            path=path,
            headers=dict(handler.headers.items()),
            body=body,
            json=parsed,
            time=time.monotonic(),
        )
        with self._lock:
            self.requests.append(request)
        return request

    def _choose(self, request: RecordedRequest) -> Response:
        route = self.routes.get(f"{request.method} {request.path.split('?')[0]}")
        if route is not None:
            return route
        path = request.path.split("?")[0]
        if request.method == "POST" and path.endswith("/chat/completions"):
            with self._lock:
                item = self._queue.popleft() if self._queue else self.default
            return item(request) if callable(item) else item
        if (
            request.method == "GET"
            and path.endswith("/models")
            and self.models is not None
        ):
            return status(
                200,
                {
                    "object": "list",
                    "data": [{"id": m, "object": "model"} for m in self.models],
                },
            )
        return status(
            404, {"error": {"message": f"no route for {request.method} {path}"}}
        )

    def _handle(self, handler: _Handler, path: str | None = None) -> None:
        request = self._record(handler, path or handler.path)
        response = self._choose(request)
        if not _Connection(handler, self._stopping).serve(response):
            with self._disconnected:
                self.disconnects.append(time.monotonic())
                self._disconnected.notify_all()
            handler.close_connection = True


@dataclass
class ProxyRequest:
    """One request as the fake proxy saw it (``target`` is the request target)."""

    method: str
    target: str
    headers: dict[str, str]


class FakeProxy(_Base):
    """An HTTP proxy on 127.0.0.1 that never connects anywhere.

    ``CONNECT`` is recorded and refused with 502. A request in absolute form
    (``GET http://host/path``) is recorded and, when ``upstream`` is given, answered
    by that :class:`FakeOpenAI` as if it were the host; otherwise 502.
    """

    def __init__(self, upstream: FakeOpenAI | None = None, port: int = 0) -> None:
        super().__init__(port)
        self.upstream = upstream
        self.requests: list[ProxyRequest] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeProxy:
        self._start()
        return self

    def __enter__(self) -> FakeProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, handler: _Handler) -> None:
        with self._lock:
            self.requests.append(
                ProxyRequest(
                    handler.command, handler.path, dict(handler.headers.items())
                )
            )
        target = handler.path
        if (
            handler.command != "CONNECT"
            and self.upstream is not None
            and "://" in target
        ):
            path = "/" + target.split("://", 1)[1].partition("/")[2]
            self.upstream._handle(handler, path)
            return
        handler._read_body()
        _Connection(handler, self._stopping).serve(
            status(502, "fake proxy: no upstream")
        )
        handler.close_connection = True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=50, help="tokens per answer")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds between tokens"
    )
    parser.add_argument("--models", default="fake-model", help="comma-separated ids")
    args = parser.parse_args(argv)

    fake = FakeOpenAI(args.port)
    fake.models = [m for m in args.models.split(",") if m]
    words = [f"word{i} " for i in range(args.tokens)]
    fake.default = lambda _request: sse(
        content_chunks(words),
        finish_reason=None,
        delay=args.delay,
        usage={
            "prompt_tokens": 10,
            "completion_tokens": args.tokens,
            "total_tokens": 10 + args.tokens,
        },
    )
    with fake:
        print(fake.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
