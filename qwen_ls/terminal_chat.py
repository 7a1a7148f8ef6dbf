"""`qwen-ls chat`: a small LSP client that starts the real server as a subprocess,
so the terminal exercises the same code as an editor does."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

from qwen_ls import __version__

PARTIAL_TOKEN = "qwen-ls-chat"
REQUEST_ID = "qwen-ls-chat-1"
MAX_FILE_CHARS = 200_000
START_TIMEOUT = 30.0
CANCEL_PATIENCE = 3.0  # seconds a cancelled chat waits for the server's answer


class ServerClient(LanguageClient):
    """A client of a qwen-ls subprocess that keeps the end of its stderr."""

    def __init__(self, name: str) -> None:
        super().__init__(name, __version__)
        self.stderr_tail: list[str] = []


class TerminalClient(ServerClient):
    def __init__(self, show_reasoning: bool) -> None:
        super().__init__("qwen-ls-chat")
        self.show_reasoning = show_reasoning
        self.printed: list[str] = []
        self.stopped_by: str | None = None  # "interrupt" or "closed pipe"
        self.conversation: asyncio.Task[int] | None = None
        self.chat_sent = False

    def stop_chat(self, reason: str) -> None:
        """Ask the server to end the chat (and the model's stream) now; before the
        chat was sent, or when asked twice, stop waiting for the server at all."""
        if self.stopped_by is None:
            self.stopped_by = reason
            if self.chat_sent:
                self.cancel_request(types.CancelParams(id=REQUEST_ID))
                # A server that does not answer the cancel is not waited for.
                loop = asyncio.get_running_loop()
                loop.call_later(CANCEL_PATIENCE, self._stop_waiting)
                return
        self._stop_waiting()

    def _stop_waiting(self) -> None:
        if self.conversation is not None:
            self.conversation.cancel()


def _make_client(show_reasoning: bool) -> TerminalClient:
    client = TerminalClient(show_reasoning)

    @client.feature(types.PROGRESS)
    def on_progress(ls: TerminalClient, params: types.ProgressParams) -> None:
        if params.token != PARTIAL_TOKEN or not isinstance(params.value, dict):
            return
        if (delta := params.value.get("delta")) and ls.stopped_by is None:
            ls.printed.append(delta)
            if not _write(delta):
                # `qwen-ls chat ... | head`: stop the model instead of paying for
                # an answer nobody reads.
                ls.stop_chat("closed pipe")
        if (reasoning := params.value.get("reasoning")) and ls.show_reasoning:
            sys.stderr.write(reasoning)
            sys.stderr.flush()

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(ls: TerminalClient, params: types.LogMessageParams) -> None:
        pass

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def on_message(ls: TerminalClient, params: types.ShowMessageParams) -> None:
        print(f"qwen-ls: {params.message}", file=sys.stderr)

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    async def on_question(
        ls: TerminalClient, params: types.ShowMessageRequestParams
    ) -> types.MessageActionItem | None:
        return await _ask_in_terminal(params)

    @client.feature("qwen/status")
    def on_status(ls: TerminalClient, params: Any) -> None:
        pass

    return client


def _can_ask() -> bool:
    """Questions (such as the host guard's) are asked only when a person is there."""
    return sys.stdin.isatty() and sys.stderr.isatty()


async def _ask_in_terminal(
    params: types.ShowMessageRequestParams,
) -> types.MessageActionItem | None:
    actions = list(params.actions or [])
    if not actions or not _can_ask():
        return None
    lines = [f"qwen-ls: {params.message}"]
    lines += [f"  {number}) {action.title}" for number, action in enumerate(actions, 1)]
    sys.stderr.write("\n".join(lines) + "\nchoose a number (Enter for none): ")
    sys.stderr.flush()
    answer = (await asyncio.to_thread(sys.stdin.readline)).strip()
    if answer.isdigit() and 1 <= int(answer) <= len(actions):
        return actions[int(answer) - 1]
    return None


async def drain_stderr(client: ServerClient, stream: Any, echo: bool) -> None:
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
        if folder in path.parents:
            arguments["uri"] = path.as_uri()
        else:
            # A uri outside the folder would select no folder (user level only):
            # keep --cwd's configuration and send the file's text with the prompt.
            prompt = _with_file(path, arguments["prompt"])
            if prompt is None:
                return _fail(
                    f"--file {path} is larger than {MAX_FILE_CHARS} characters"
                )
            arguments["prompt"] = prompt
    if args.model:
        arguments["model"] = args.model

    server_args = ["-m", "qwen_ls", "--stdio"]
    if args.verbose:
        server_args.append("-" + "v" * args.verbose)
    if args.log_file:
        server_args += ["--log-file", args.log_file]

    if not args.verbose:
        logging.getLogger("pygls").setLevel(logging.CRITICAL)
    client = _make_client(args.reasoning)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, client.stop_chat, "interrupt")
    try:
        return await _run_server_and_chat(client, server_args, folder, arguments, args)
    finally:
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGINT)


async def _run_server_and_chat(
    client: TerminalClient,
    server_args: list[str],
    folder: Path,
    arguments: dict[str, Any],
    args: argparse.Namespace,
) -> int:
    # Its own session: Ctrl-C in the terminal reaches us, and we end the chat.
    await client.start_io(
        sys.executable, *server_args, cwd=str(folder), start_new_session=True
    )
    server = client._server
    assert server is not None and server.stderr is not None
    drain = asyncio.ensure_future(
        drain_stderr(client, server.stderr, echo=bool(args.verbose))
    )
    client.conversation = asyncio.ensure_future(_converse(client, folder, arguments))
    if client.stopped_by is not None:  # Ctrl-C while the server was being started
        client.conversation.cancel()
    try:
        return await client.conversation
    except asyncio.CancelledError:
        if client.stopped_by is None:
            raise
        if client.stopped_by == "closed pipe":
            return 0
        _end_line(client)
        print("qwen-ls chat: cancelled", file=sys.stderr)
        return 130
    finally:
        # A server that has not answered by now gets a second, not five.
        await stop_server(client, drain, patience=1.0 if client.stopped_by else 5.0)


async def stop_server(
    client: ServerClient, drain: asyncio.Future[Any], *, patience: float = 5.0
) -> None:
    """shutdown and exit, politely and briefly; kill the server if it will not go."""
    server = client._server
    if server is not None and server.returncode is None:
        try:
            await asyncio.wait_for(client.shutdown_async(None), patience)
            client.exit(None)
            await asyncio.wait_for(server.wait(), patience)
        except Exception:
            with contextlib.suppress(ProcessLookupError):
                server.kill()
    await client.stop()
    drain.cancel()


def _with_file(path: Path, prompt: str) -> str | None:
    from qwen_ls.features.chat import CodeContext, user_message

    text = path.read_text(encoding="utf-8", errors="replace")
    if len(text) > MAX_FILE_CHARS:
        return None
    return user_message(prompt, CodeContext(path=str(path), language="", text=text))


async def _converse(
    client: TerminalClient, folder: Path, arguments: dict[str, Any]
) -> int:
    try:
        await asyncio.wait_for(
            client.initialize_async(
                types.InitializeParams(
                    process_id=os.getpid(),
                    capabilities=types.ClientCapabilities(
                        window=types.WindowClientCapabilities(
                            work_done_progress=False,
                            show_message=types.ShowMessageRequestClientCapabilities()
                            if _can_ask()
                            else None,
                        )
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
        client.chat_sent = True
        result = await client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(command="qwen.chat", arguments=[arguments]),
            msg_id=REQUEST_ID,
        )
    except JsonRpcException as exc:
        if client.stopped_by == "closed pipe":
            return 0
        _end_line(client)
        if client.stopped_by == "interrupt":
            print("qwen-ls chat: cancelled", file=sys.stderr)
            return 130
        return _fail(str(exc.message).split("\n")[0])
    except (RuntimeError, asyncio.TimeoutError) as exc:
        _end_line(client)
        tail = " | ".join(client.stderr_tail[-3:])
        return _fail(f"the server stopped unexpectedly ({exc}). {tail}".strip())

    text = result.get("text", "") if isinstance(result, dict) else ""
    streamed = "".join(client.printed)
    if text.startswith(streamed):
        _write(text[len(streamed) :])
    _end_line(client, text)
    if isinstance(result, dict) and result.get("finishReason") == "length":
        print("qwen-ls chat: stopped at the model's max tokens", file=sys.stderr)
    return 0


def _end_line(client: TerminalClient, text: str | None = None) -> None:
    shown = text if text is not None else "".join(client.printed)
    _write("\n" if shown and not shown.endswith("\n") else "")


def _write(text: str) -> bool:
    """Write and flush stdout; False when its reader has gone (`| head`), after
    which stdout goes to /dev/null so that nothing fails at exit."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False
    return True


def _fail(reason: str) -> int:
    print(f"qwen-ls chat: {reason}", file=sys.stderr)
    return 1
