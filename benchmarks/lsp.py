"""A lean LSP client over a subprocess's stdio: raw JSON-RPC framing, one reader task,
no type conversion, so that the client side costs little next to the server."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ProgressHandler = Callable[[Any], None]

CAPABILITIES: dict[str, Any] = {
    "window": {"workDoneProgress": True},
    "workspace": {"workspaceFolders": True, "configuration": False},
}


class LspError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error


class LspProcess:
    """One language server subprocess and the client end of its stdio."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.progress: dict[str | int, ProgressHandler] = {}
        """Handlers for `$/progress`, by token; they get the notification's value."""
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def spawn(
        cls, command: Sequence[str], *, env: dict[str, str], cwd: Path, stderr: Path
    ) -> LspProcess:
        with stderr.open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=cwd,
            )
        return cls(proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        """Resident memory of the server process (Linux /proc)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc status")

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        body = json.dumps(message, separators=(",", ":")).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def request_future(self, method: str, params: Any = None) -> asyncio.Future[Any]:
        msg_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        self._send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return future

    async def request(self, method: str, params: Any = None) -> Any:
        return await self.request_future(method, params)

    def notify(self, method: str, params: Any = None) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def ping(self) -> None:
        """A round trip: every message sent before it has been handled."""
        with contextlib.suppress(LspError):
            await self.request("$/bench/ping")

    async def initialize(self, folder: Path, options: Any = None) -> None:
        """Send initialize, and initialized once the InitializeResult is in."""
        await self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": folder.as_uri(),
                "capabilities": CAPABILITIES,
                "workspaceFolders": [{"uri": folder.as_uri(), "name": folder.name}],
                "initializationOptions": options,
            },
        )
        self.notify("initialized", {})

    async def close(self, timeout: float = 10.0) -> None:
        try:
            await asyncio.wait_for(self.request("shutdown"), timeout)
            self.notify("exit")
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            await asyncio.wait_for(self.proc.wait(), timeout)
        except (asyncio.TimeoutError, ConnectionError, LspError):
            pass
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
            self._reader.cancel()

    async def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while True:
                head = await stdout.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                self._dispatch(json.loads(await stdout.readexactly(length)))
        except (asyncio.IncompleteReadError, ConnectionError):
            error = ConnectionError(f"server exited ({self.proc.returncode})")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(error)

    def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is None:
            future = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
            if future is None or future.done():
                return
            if "error" in message:
                future.set_exception(LspError(message["error"]))
            else:
                future.set_result(message.get("result"))
        elif "id" in message:
            # workDoneProgress/create, registerCapability and the like: accept.
            self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
        elif method == "$/progress":
            params = message["params"]
            handler = self.progress.get(params["token"])
            if handler is not None:
                handler(params["value"])
