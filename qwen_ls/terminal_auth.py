"""`qwen-ls login` and `qwen-ls logout`: sign in from a terminal, e.g. over SSH on a
machine without a browser. They drive the real server, as `qwen-ls chat` does, so a
terminal sign-in stores exactly what an editor's would (same files, same scopes,
same git protection). The terminal client cannot open pages: the server prints the
sign-in address and code, and the user opens them on any device."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from qwen_ls.terminal_chat import (
    START_TIMEOUT,
    ServerClient,
    drain_stderr,
    stop_server,
)

METHODS = {"1": "qwen-oauth", "2": "coding-plan", "3": "openai"}
KEY_METHODS = ("openai", "coding-plan")


class AuthClient(ServerClient):
    def __init__(self) -> None:
        super().__init__("qwen-ls-login")
        self.shown: list[str] = []


def _make_client() -> AuthClient:
    client = AuthClient()

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def on_message(ls: AuthClient, params: types.ShowMessageParams) -> None:
        ls.shown.append(params.message)
        print(f"qwen-ls: {params.message}", file=sys.stderr, flush=True)

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(ls: AuthClient, params: types.LogMessageParams) -> None:
        pass

    @client.feature("qwen/status")
    def on_status(ls: AuthClient, params: Any) -> None:
        pass

    return client


class Refused(Exception):
    """The command line cannot be carried out; the message says why."""


def login_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The qwen.auth argument object, asking on the terminal what is missing.

    The key is read from stdin (``--api-key-stdin``) or typed without echo, never
    taken from the command line, where it would stay in the shell history."""
    method = args.method or _ask_method()
    arguments: dict[str, Any] = {"method": method}
    if method in KEY_METHODS:
        arguments["apiKey"] = _read_key(args.api_key_stdin, method)
    elif args.api_key_stdin:
        raise Refused("--api-key-stdin: Qwen OAuth takes no key")
    for name, value in (
        ("baseUrl", args.base_url),
        ("model", args.model),
        ("scope", args.scope),
    ):
        if value:
            arguments[name] = value
    return arguments


def _ask_method() -> str:
    if not sys.stdin.isatty():
        raise Refused("pass --method qwen-oauth, coding-plan or openai")
    print(
        "How do you want to sign in?\n"
        "  1) Qwen OAuth (the free tier closed in April 2026)\n"
        "  2) Alibaba Cloud Coding Plan (an sk-sp-... key)\n"
        "  3) API key for an OpenAI-compatible endpoint",
        file=sys.stderr,
    )
    answer = input("Choose 1, 2 or 3: ").strip()
    if answer not in METHODS:
        raise Refused(f"no such choice: {answer!r}")
    return METHODS[answer]


def _read_key(from_stdin: bool, method: str) -> str:
    if from_stdin:
        key = sys.stdin.read().strip()
    elif sys.stdin.isatty():
        prompt = (
            "Coding Plan key (sk-sp-...): " if method == "coding-plan" else "API key: "
        )
        key = getpass.getpass(prompt).strip()
    else:
        raise Refused(
            "the key is read from stdin: pass --api-key-stdin (for example "
            "`qwen-ls login --method openai --api-key-stdin < keyfile`)"
        )
    if not key:
        raise Refused("no API key given")
    return key


async def run_login(args: argparse.Namespace) -> int:
    try:
        folder = _folder(args.cwd)
        arguments = login_arguments(args)
    except Refused as exc:
        return _fail("login", str(exc), code=2)
    result = await _run(folder, "qwen.auth", arguments, args)
    if isinstance(result, int):
        return result
    for message in result.get("messages", []):
        # The server also shows them as messages: print each once.
        if not any(message in shown for shown in result.get("_shown", [])):
            print(f"qwen-ls: {message}", file=sys.stderr)
    if result.get("signedIn"):
        print(f"Signed in: {result.get('authType')}, model {result.get('model')}")
        return 0
    if result.get("cancelled"):
        return _fail("login", "cancelled; nothing changed")
    return _fail("login", "not signed in (see the messages above)")


async def run_logout(args: argparse.Namespace) -> int:
    try:
        folder = _folder(args.cwd)
    except Refused as exc:
        return _fail("logout", str(exc), code=2)
    arguments = {"scope": args.scope} if args.scope else {}
    result = await _run(folder, "qwen.logout", arguments, args)
    if isinstance(result, int):
        return result
    for removed in result.get("removed", []):
        print(f"Removed {removed}")
    if not result.get("removed"):
        print("Nothing to remove.")
    if result.get("signedIn"):
        print(f"qwen-ls: {result['messages'][-1]}", file=sys.stderr)
    return 0


def _folder(cwd: str) -> Path:
    folder = Path(os.path.abspath(cwd))
    if not folder.is_dir():
        raise Refused(f"--cwd {folder} is not a directory")
    return folder


async def _run(
    folder: Path, command: str, arguments: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any] | int:
    if not args.verbose:
        logging.getLogger("pygls").setLevel(logging.CRITICAL)
    client = _make_client()
    name = "login" if command == "qwen.auth" else "logout"
    async with running_server(client, folder, args.verbose, args.log_file):
        try:
            await initialize(
                client, folder, types.WindowClientCapabilities(work_done_progress=False)
            )
            result = await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=command, arguments=[arguments])
            )
        except JsonRpcException as exc:
            return _fail(name, str(exc.message).split("\n")[0])
        except (RuntimeError, asyncio.TimeoutError) as exc:
            tail = " | ".join(client.stderr_tail[-3:])
            return _fail(name, f"the server stopped unexpectedly ({exc}). {tail}")
    answer = dict(result) if isinstance(result, dict) else {}
    answer["_shown"] = client.shown
    return answer


@contextlib.asynccontextmanager
async def running_server(
    client: ServerClient, folder: Path, verbose: int, log_file: str | None
) -> AsyncIterator[None]:
    """Start the real server for ``client`` in ``folder``; shut it down after.
    Ctrl-C reaches both processes (same session), which ends the sign-in."""
    server_args = ["-m", "qwen_ls", "--stdio"]
    if verbose:
        server_args.append("-" + "v" * verbose)
    if log_file:
        server_args += ["--log-file", log_file]

    await client.start_io(sys.executable, *server_args, cwd=str(folder))
    server = client._server
    assert server is not None and server.stderr is not None
    drain = asyncio.ensure_future(
        drain_stderr(client, server.stderr, echo=bool(verbose))
    )
    try:
        yield
    finally:
        await stop_server(client, drain)


async def initialize(
    client: ServerClient, folder: Path, window: types.WindowClientCapabilities
) -> None:
    """initialize/initialized with ``folder`` as the one workspace folder."""
    await asyncio.wait_for(
        client.initialize_async(
            types.InitializeParams(
                process_id=os.getpid(),
                capabilities=types.ClientCapabilities(window=window),
                workspace_folders=[
                    types.WorkspaceFolder(uri=folder.as_uri(), name=folder.name)
                ],
                client_info=types.ClientInfo(name=client.name),
            )
        ),
        START_TIMEOUT,
    )
    client.initialized(types.InitializedParams())


def _fail(name: str, reason: str, code: int = 1) -> int:
    print(f"qwen-ls {name}: {reason}", file=sys.stderr)
    return code
