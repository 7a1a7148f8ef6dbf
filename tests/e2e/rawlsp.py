"""A strict, minimal LSP client over raw stdio frames, for sending what a well-behaved
client library never would (malformed params, fuzzed messages) and for checking the
server's framing byte by byte."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from tests.e2e.harness import server_command


class FramingError(AssertionError):
    pass


class RawLsp:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.messages: list[dict[str, Any]] = []
        self.raw_frames: list[bytes] = []
        self._next_id = 0
        self._waiters: dict[int | str, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, *extra: str, env: dict[str, str] | None = None) -> RawLsp:
        process = await asyncio.create_subprocess_exec(
            *server_command(*extra),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
        return cls(process)

    async def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            header = await stream.readuntil(b"\r\n\r\n")
            length = None
            for line in header.decode("ascii").split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            if length is None:
                raise FramingError(f"frame without Content-Length: {header!r}")
            body = await stream.readexactly(length)
            self.raw_frames.append(body)
            try:
                message = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise FramingError(
                    f"Content-Length does not match the body: {exc}"
                ) from None
            self.messages.append(message)
            waiter = (
                self._waiters.pop(message.get("id"), None)
                if "method" not in message
                else None
            )
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
            elif "method" in message and "id" in message:
                # Answer the server's requests (progress create, applyEdit ...).
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def send_bytes(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)

    async def request(
        self, method: str, params: Any = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        self._next_id += 1
        msg_id = self._next_id
        future: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiters[msg_id] = future
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return await asyncio.wait_for(future, timeout)

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    async def initialize(
        self,
        folders: list[str] | None = None,
        *,
        options: Any = None,
        initialized: bool = True,
        **caps: Any,
    ) -> None:
        """initialize (with initializationOptions `options`), then `initialized`
        unless told not to."""
        params: dict[str, Any] = {
            "processId": os.getpid(),
            "capabilities": caps or {"window": {"workDoneProgress": True}},
            "workspaceFolders": [
                {"uri": f, "name": f.rsplit("/", 1)[-1]} for f in folders or []
            ],
        }
        if options is not None:
            params["initializationOptions"] = options
        answer = await self.request("initialize", params)
        assert "result" in answer, answer
        if initialized:
            self.notify("initialized", {})

    def alive(self) -> bool:
        return self.process.returncode is None

    async def close(self) -> None:
        if self.process.returncode is None:
            try:
                await self.request("shutdown", timeout=5)
                self.notify("exit")
                await asyncio.wait_for(self.process.wait(), 5)
            except Exception:
                self.process.kill()
                await self.process.wait()
        self._reader.cancel()


def python() -> str:
    return sys.executable
