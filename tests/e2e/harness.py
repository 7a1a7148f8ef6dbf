"""Drive the real server over stdio, as an editor would, with a test client that also
records partial results, `qwen/status`, message requests and applied edits."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, LanguageClient
from pytest_lsp.client import progress as default_progress

PRESETS = ["visual_studio_code", "neovim"]
PARTIAL = "partial-"


class QwenTestClient(LanguageClient):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.partials: dict[types.ProgressToken, list[dict[str, Any]]] = {}
        self.statuses: list[dict[str, Any]] = []
        self.message_requests: list[types.ShowMessageRequestParams] = []
        self.answer_message_request: Callable[
            [types.ShowMessageRequestParams], str | None
        ] = lambda params: None
        self.edits: list[types.ApplyWorkspaceEditParams] = []
        self.apply_edit_result = True
        self.show_document_result: bool | Exception | None = True
        """True/False: the answer; an exception: an error answer; None: none."""
        self.show_document_gate = asyncio.Event()
        self.registrations: dict[str, types.Registration] = {}
        self.unregistered: list[str] = []
        self._partial_counter = 0
        self.init_result: types.InitializeResult | None = None

    def partial_token(self) -> str:
        self._partial_counter += 1
        return f"{PARTIAL}{self._partial_counter}"

    def text_of(self, token: str) -> str:
        return "".join(v.get("delta", "") for v in self.partials.get(token, []))

    async def command(
        self, name: str, args: dict[str, Any] | None = None, **kw: Any
    ) -> Any:
        return await self.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=name, arguments=[args] if args is not None else None, **kw
            )
        )

    async def command_error(
        self, name: str, args: dict[str, Any] | None = None, **kw: Any
    ) -> JsonRpcException:
        try:
            result = await self.command(name, args, **kw)
        except JsonRpcException as exc:
            return exc
        raise AssertionError(f"{name} succeeded unexpectedly: {result!r}")

    def watched_globs(self) -> list[Any]:
        """The glob patterns of every file watcher registered now."""
        globs = []
        for registration in self.registrations.values():
            if registration.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES:
                options = registration.register_options
                watchers = (
                    options["watchers"]
                    if isinstance(options, dict)
                    else options.watchers
                )
                globs.extend(
                    w["globPattern"] if isinstance(w, dict) else w.glob_pattern
                    for w in watchers
                )
        return globs

    def files_changed(self, *changes: tuple[Path, types.FileChangeType]) -> None:
        """Tell the server about file events, as an editor's watcher would."""
        self.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[
                    types.FileEvent(uri=path.as_uri(), type=kind)
                    for path, kind in changes
                ]
            )
        )

    def progress_kinds(self, token: types.ProgressToken) -> list[str]:
        return [v.kind for v in self.progress_reports.get(token, [])]


def make_client() -> QwenTestClient:
    from pygls.protocol import default_converter

    client = QwenTestClient(converter_factory=default_converter)
    for method, func in DEFAULT_CLIENT_FEATURES.items():
        if method not in (types.PROGRESS, types.WINDOW_SHOW_DOCUMENT):
            client.feature(method)(func)

    @client.feature(types.PROGRESS)
    def on_progress(ls: QwenTestClient, params: types.ProgressParams) -> None:
        if isinstance(params.token, str) and params.token.startswith(PARTIAL):
            assert isinstance(params.value, dict) and "kind" not in params.value
            ls.partials.setdefault(params.token, []).append(params.value)
            return
        default_progress(ls, params)

    @client.feature("qwen/status")
    def on_status(ls: QwenTestClient, params: Any) -> None:
        ls.statuses.append(_plain(params))

    @client.feature(types.WINDOW_SHOW_DOCUMENT)
    async def on_show_document(
        ls: QwenTestClient, params: types.ShowDocumentParams
    ) -> types.ShowDocumentResult:
        ls.shown_documents.append(params)
        behaviour = ls.show_document_result
        if isinstance(behaviour, Exception):
            raise behaviour  # answered as a JSON-RPC error
        if behaviour is None:  # no answer until the session ends
            await ls.show_document_gate.wait()
        return types.ShowDocumentResult(success=bool(behaviour))

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_message_request(
        ls: QwenTestClient, params: types.ShowMessageRequestParams
    ) -> types.MessageActionItem | None:
        ls.message_requests.append(params)
        title = ls.answer_message_request(params)
        return types.MessageActionItem(title=title) if title is not None else None

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def on_register(ls: QwenTestClient, params: types.RegistrationParams) -> None:
        for registration in params.registrations:
            ls.registrations[registration.id] = registration

    @client.feature(types.CLIENT_UNREGISTER_CAPABILITY)
    def on_unregister(ls: QwenTestClient, params: types.UnregistrationParams) -> None:
        for gone in params.unregisterations:
            ls.registrations.pop(gone.id, None)
            ls.unregistered.append(gone.id)

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def on_apply_edit(
        ls: QwenTestClient, params: types.ApplyWorkspaceEditParams
    ) -> types.ApplyWorkspaceEditResult:
        ls.edits.append(params)
        if ls.apply_edit_result:
            return types.ApplyWorkspaceEditResult(applied=True)
        return types.ApplyWorkspaceEditResult(
            applied=False, failure_reason="rejected by the test client"
        )

    return client


def _plain(value: Any) -> Any:
    """pygls hands custom notification params over as namedtuples; make them dicts."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def server_command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "qwen_ls", "--stdio", "-vv", *extra]


@asynccontextmanager
async def lsp_session(
    preset: str | types.ClientCapabilities,
    *,
    folders: list[Path] | None = None,
    init_options: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    initialize: bool = True,
) -> AsyncIterator[QwenTestClient]:
    """A real qwen-ls subprocess and a client with `preset`'s capabilities."""
    client = make_client()
    server_env = {**os.environ, **(env or {})}
    await client.start_io(*server_command(*extra_args), env=server_env)
    try:
        if initialize:
            capabilities = (
                pytest_lsp.client_capabilities(preset)
                if isinstance(preset, str)
                else preset
            )
            client.init_result = await client.initialize_session(
                types.InitializeParams(
                    capabilities=capabilities,
                    workspace_folders=[
                        types.WorkspaceFolder(uri=f.as_uri(), name=f.name)
                        for f in folders or []
                    ],
                    initialization_options=init_options,
                )
            )
        yield client
        client.show_document_gate.set()
        if initialize:
            await asyncio.wait_for(client.shutdown_session(), 15)
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()
        await client.stop()


def write_env(folder: Path, text: str, name: str = ".qwen/.env") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
