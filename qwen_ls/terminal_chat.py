"""`qwen-ls chat`: a small LSP client that starts the real server as a subprocess,
so the terminal exercises the same code as an editor does."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

from qwen_ls import __version__

PARTIAL_TOKEN = "qwen-ls-chat"
START_TIMEOUT = 30.0


class TerminalClient(LanguageClient):
    def __init__(self, show_reasoning: bool) -> None:
        super().__init__("qwen-ls-chat", __version__)
        self.show_reasoning = show_reasoning
        self.printed: list[str] = []
        self.stderr_tail: list[str] = []


def _make_client(show_reasoning: bool) -> TerminalClient:
    client = TerminalClient(show_reasoning)

    @client.feature(types.PROGRESS)
    def on_progress(ls: TerminalClient, params: types.ProgressParams) -> None:
        if params.token != PARTIAL_TOKEN or not isinstance(params.value, dict):
            return
        if delta := params.value.get("delta"):
            ls.printed.append(delta)
            sys.stdout.write(delta)
            sys.stdout.flush()
        if (reasoning := params.value.get("reasoning")) and ls.show_reasoning:
            sys.stderr.write(reasoning)
            sys.stderr.flush()

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(ls: TerminalClient, params: types.LogMessageParams) -> None:
        pass

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def on_message(ls: TerminalClient, params: types.ShowMessageParams) -> None:
        print(f"qwen-ls: {params.message}", file=sys.stderr)

    @client.feature("qwen/status")
    def on_status(ls: TerminalClient, params: Any) -> None:
        pass

    return client


async def _drain_stderr(client: TerminalClient, stream: Any, echo: bool) -> None:
    while line := await stream.readline():
        text = line.decode("utf-8", "replace").rstrip("\n")
        client.stderr_tail = [*client.stderr_tail[-19:], text]
        if echo:
            print(text, file=sys.stderr)


async def run_chat(args: argparse.Namespace) -> int:
    folder = Path(os.path.abspath(args.cwd))
    if not folder.is_dir():
        return _fail(f"--cwd {folder} is not a directory")
    arguments: dict[str, Any] = {
        "prompt": " ".join(args.prompt),
        "partialResultToken": PARTIAL_TOKEN,
    }
    if args.file:
        path = Path(os.path.abspath(args.file))
        if not path.is_file():
            return _fail(f"--file {path} is not a file")
        arguments["uri"] = path.as_uri()
    if args.model:
        arguments["model"] = args.model

    server_args = ["-m", "qwen_ls", "--stdio"]
    if args.verbose:
        server_args.append("-" + "v" * args.verbose)
    if args.log_file:
        server_args += ["--log-file", args.log_file]

    client = _make_client(args.reasoning)
    await client.start_io(sys.executable, *server_args, cwd=str(folder))
    server = client._server
    assert server is not None and server.stderr is not None
    drain = asyncio.ensure_future(
        _drain_stderr(client, server.stderr, echo=bool(args.verbose))
    )
    try:
        return await _converse(client, folder, arguments)
    finally:
        if server.returncode is None:
            try:
                await asyncio.wait_for(client.shutdown_async(None), 5)
                client.exit(None)
                await asyncio.wait_for(server.wait(), 5)
            except Exception:
                server.kill()
        await client.stop()
        drain.cancel()


async def _converse(
    client: TerminalClient, folder: Path, arguments: dict[str, Any]
) -> int:
    try:
        await asyncio.wait_for(
            client.initialize_async(
                types.InitializeParams(
                    process_id=os.getpid(),
                    capabilities=types.ClientCapabilities(
                        window=types.WindowClientCapabilities(work_done_progress=False)
                    ),
                    workspace_folders=[
                        types.WorkspaceFolder(uri=folder.as_uri(), name=folder.name)
                    ],
                    client_info=types.ClientInfo(name="qwen-ls chat"),
                )
            ),
            START_TIMEOUT,
        )
        client.initialized(types.InitializedParams())
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="qwen.chat", arguments=[arguments])
        )
    except JsonRpcException as exc:
        _end_line(client)
        return _fail(str(exc.message).split("\n")[0])
    except (RuntimeError, asyncio.TimeoutError) as exc:
        _end_line(client)
        tail = " | ".join(client.stderr_tail[-3:])
        return _fail(f"the server stopped unexpectedly ({exc}). {tail}".strip())

    text = result.get("text", "") if isinstance(result, dict) else ""
    streamed = "".join(client.printed)
    if text.startswith(streamed):
        sys.stdout.write(text[len(streamed) :])
    _end_line(client, text)
    if isinstance(result, dict) and result.get("finishReason") == "length":
        print("qwen-ls chat: stopped at the model's max tokens", file=sys.stderr)
    return 0


def _end_line(client: TerminalClient, text: str | None = None) -> None:
    shown = text if text is not None else "".join(client.printed)
    if shown and not shown.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


def _fail(reason: str) -> int:
    print(f"qwen-ls chat: {reason}", file=sys.stderr)
    return 1
