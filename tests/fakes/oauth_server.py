"""A fake Qwen OAuth server on 127.0.0.1 (device code and token endpoints) for unit
tests, end-to-end tests of the language server and the editor plugins.

Usage::

    with FakeOAuth() as fake:                      # free port, background thread
        fake.device(device_answer(interval=5))     # POST /api/v1/oauth2/device/code
        fake.token(oauth_error("authorization_pending"), tokens())   # device grant
        fake.refresh(tokens(access="at-test-0002"))                  # refresh grant
        QwenOAuth(http, fake.base_url)             # QWEN_OAUTH_BASE_URL for a server
        fake.requests[0].form["scope"], fake.token_requests("refresh_token")

Each queue takes :class:`Answer` objects (built with :func:`json_answer`,
:func:`device_answer`, :func:`tokens`, :func:`oauth_error`, :func:`html`) or callables
that receive the :class:`OAuthRequest` and return one. When a queue is empty:

- device code: ``device_answer()``;
- token, device grant: ``fake.approve_after`` pending answers (400
  ``authorization_pending``), then ``tokens()``; with ``approve_after=None`` pending
  for ever;
- token, refresh grant: with :meth:`FakeOAuth.rotate`, each valid refresh token
  works once and yields the next numbered pair (``at-test-0002``/``rt-test-0002``,
  …); any other refresh token gets 400 ``invalid_grant``.

Anything else answers 404 with an HTML page. ``fake.clock`` stamps
``OAuthRequest.time`` (``time.monotonic`` unless a test gives its fake clock).

Standalone, for trying an editor plugin by hand::

    python -m tests.fakes.oauth_server --port 8765 --approve-after 2
"""

from __future__ import annotations

import argparse
import collections
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

DEVICE_PATH = "/api/v1/oauth2/device/code"
TOKEN_PATH = "/api/v1/oauth2/token"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class OAuthRequest:
    """One request as the fake saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]
    time: float

    def header(self, name: str) -> str | None:
        """The value of header ``name``, looked up case-insensitively."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    @property
    def grant(self) -> str | None:
        return self.form.get("grant_type")


@dataclass
class Answer:
    """What the fake sends for one request."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (real time)."""


Script = Answer | Callable[[OAuthRequest], Answer]


def json_answer(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Answer:
    return Answer(
        status,
        json.dumps(data).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


def device_answer(
    *,
    device_code: str = "dc-test",
    user_code: str = "ABCD-1234",
    verification_uri: str = "https://chat.test/authorize",
    expires_in: float | None = 300,
    interval: float | None = None,
    **extra: Any,
) -> Answer:
    """A device authorization answer; None leaves a field out."""
    data: dict[str, Any] = {
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": f"{verification_uri}?user_code={user_code}",
    }
    if expires_in is not None:
        data["expires_in"] = expires_in
    if interval is not None:
        data["interval"] = interval
    data.update(extra)
    return json_answer(data)


def tokens(
    *,
    access: str = "at-test-0001",
    refresh: str | None = "rt-test-0001",
    expires_in: float | None = 21600,
    resource_url: str | None = "portal.qwen.ai",
    token_type: str = "Bearer",
    **extra: Any,
) -> Answer:
    """A successful token answer; None leaves a field out."""
    data: dict[str, Any] = {"access_token": access, "token_type": token_type}
    if refresh is not None:
        data["refresh_token"] = refresh
    if expires_in is not None:
        data["expires_in"] = expires_in
    if resource_url is not None:
        data["resource_url"] = resource_url
    data.update(extra)
    return json_answer(data)


def oauth_error(
    error: str,
    status: int = 400,
    description: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    data = {"error": error}
    if description is not None:
        data["error_description"] = description
    return json_answer(data, status, headers)


def html(status: int = 404, text: str = "Not Found") -> Answer:
    page = f"<!doctype html><html><body><h1>{status} {text}</h1></body></html>"
    return Answer(status, page.encode(), {"Content-Type": "text/html"})


class FakeOAuth:
    """The fake server; use as a context manager or call start()/stop()."""

    def __init__(self, *, approve_after: int | None = None) -> None:
        self.requests: list[OAuthRequest] = []
        self.approve_after = approve_after
        self.clock: Callable[[], float] = time.monotonic
        self._queues: dict[str, collections.deque[Script]] = {
            "device": collections.deque(),
            DEVICE_GRANT: collections.deque(),
            "refresh_token": collections.deque(),
        }
        self._valid_refresh: set[str] = set()
        self._serial = 0
        self._pending_served = 0
        self.refresh_delay = 0.0
        self.resource_url: str | None = "portal.qwen.ai"
        """``resource_url`` of the default token answers; end-to-end tests that
        chat afterwards point it at a loopback server."""
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -----------------------------------------------------------

    def device(self, *answers: Script) -> None:
        """Queue answers for the device code endpoint."""
        with self._lock:
            self._queues["device"].extend(answers)

    def token(self, *answers: Script) -> None:
        """Queue answers for token requests with the device grant (polls)."""
        with self._lock:
            self._queues[DEVICE_GRANT].extend(answers)

    def refresh(self, *answers: Script) -> None:
        """Queue answers for token requests with the refresh_token grant."""
        with self._lock:
            self._queues["refresh_token"].extend(answers)

    def rotate(
        self, refresh_token: str = "rt-test-0001", *, next_serial: int = 2
    ) -> None:
        """Make ``refresh_token`` valid once; each use yields at-test-NNNN and
        rt-test-NNNN from ``next_serial`` on, the new refresh token again valid once."""
        with self._lock:
            self._valid_refresh = {refresh_token}
            self._serial = next_serial

    def token_requests(self, grant: str | None = None) -> list[OAuthRequest]:
        """Requests to the token endpoint, all or with grant type ``grant``
        (``"refresh_token"``, or ``"device"`` for the device grant)."""
        if grant == "device":
            grant = DEVICE_GRANT
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path == TOKEN_PATH and (grant is None or r.grant == grant)
            ]

    # -- life cycle ----------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self, port: int = 0) -> FakeOAuth:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-oauth",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOAuth:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering -----------------------------------------------------------

    def _answer(self, request: OAuthRequest) -> Answer:
        with self._lock:
            self.requests.append(request)
            if request.method != "POST":
                return html(405, "Method Not Allowed")
            if request.path == DEVICE_PATH:
                key = "device"
            elif request.path == TOKEN_PATH:
                key = request.grant or ""
            else:
                return html(404)
            queue = self._queues.get(key)
            script = queue.popleft() if queue else None
            if script is None:
                return self._default(key, request)
        return script(request) if callable(script) else script

    def _default(self, key: str, request: OAuthRequest) -> Answer:
        if key == "device":
            return device_answer()
        if key == DEVICE_GRANT:
            if (
                self.approve_after is not None
                and self._pending_served >= self.approve_after
            ):
                return tokens(resource_url=self.resource_url)
            self._pending_served += 1
            return oauth_error("authorization_pending")
        if key == "refresh_token":
            used = request.form.get("refresh_token", "")
            if used not in self._valid_refresh:
                return oauth_error("invalid_grant", description="Invalid refresh token")
            self._valid_refresh.discard(used)
            serial, self._serial = self._serial, self._serial + 1
            self._valid_refresh.add(f"rt-test-{serial:04d}")
            answer = tokens(
                access=f"at-test-{serial:04d}",
                refresh=f"rt-test-{serial:04d}",
                resource_url=self.resource_url,
            )
            answer.delay = self.refresh_delay
            return answer
        return oauth_error("unsupported_grant_type")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOAuth
    protocol_version = "HTTP/1.1"
    # One write per answer, sent at once (else delayed ACKs cost 40 ms a request).
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = OAuthRequest(
            method=self.command,
            path=self.path.split("?", 1)[0],
            headers=dict(self.headers.items()),
            body=body,
            form=dict(
                parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            ),
            time=self.fake.clock(),
        )
        answer = self.fake._answer(request)
        if answer.delay:
            time.sleep(answer.delay)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Qwen OAuth server.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--approve-after", type=int, default=2)
    parser.add_argument(
        "--resource-url",
        default="http://127.0.0.1:8123",
        help="resource_url of the tokens: where chats go after signing in "
        "(default: the README's fake endpoint on 127.0.0.1:8123, never a real host)",
    )
    args = parser.parse_args()
    fake = FakeOAuth(approve_after=args.approve_after)
    fake.resource_url = args.resource_url
    fake.rotate()
    fake.start(args.port)
    print(f"QWEN_OAUTH_BASE_URL={fake.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
