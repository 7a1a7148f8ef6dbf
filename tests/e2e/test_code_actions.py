"""Code actions and qwen.edit end to end: the real server over stdio, the fake endpoint
on 127.0.0.1. Every applied edit is checked by applying the WorkspaceEdit the client
received to the text, in the negotiated position encoding, with the test's own code."""

from __future__ import annotations

import asyncio
import itertools
import json
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from qwen_ls.features.args import MAX_CONTEXT_CHARS
from tests.e2e.harness import QwenTestClient, _plain, lsp_session, write_env
from tests.fakes.openai_server import (
    FakeOpenAI,
    Response,
    content_chunks,
    slow_tokens,
    sse,
    text_stream,
)
from tests.textedits import apply, marked, offset_of, range_of, text_edits

SOURCE = (
    "import os\n"
    "\n"
    "def total(items):\n"
    "    result = 0\n"
    "    for item in items:\n"
    "        result = result + item\n"
    "    return reslt\n"
)
FUNCTION = {"start": {"line": 2, "character": 0}, "end": {"line": 7, "character": 0}}
TYPO = types.Diagnostic(
    range=types.Range(types.Position(6, 11), types.Position(6, 16)),
    message="undefined name 'reslt'",
    severity=types.DiagnosticSeverity.Error,
    source="pyflakes",
    code="F821",
)
SETTINGS = {
    "qwenLs": {
        "codeActions": [
            {
                "title": "Add type hints",
                "instruction": "Add type hints to every function.",
            }
        ]
    }
}


def env_for(fake: FakeOpenAI) -> str:
    return f"OPENAI_API_KEY=sk-test-0000\nOPENAI_BASE_URL={fake.base_url}\n"


def fenced(code: str, lang: str = "python") -> Response:
    return text_stream(
        f"Here is the code:\n\n```{lang}\n{code}\n```\n\nDone.", pieces=4
    )


def open_document(
    client: QwenTestClient, path: Path, text: str, language: str = "python"
) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)
        )
    )
    return uri


def last_prompt(fake: FakeOpenAI) -> str:
    return str(fake.requests[-1].json["messages"][-1]["content"])


def encoding_of(preset: str) -> str:
    return "utf-8" if preset == "neovim" else "utf-16"


async def raw_request(
    client: QwenTestClient, method: str, params: Any, msg_id: str | None = None
) -> Any:
    """Send params exactly as given and return the raw JSON result. (The test
    client checks typed params itself, and lsprotocol's converter turns every
    CodeAction that carries a command into a Command.)"""
    msg_id = msg_id or f"raw-{next(_ids)}"
    future: Future[Any] = Future()
    client.protocol._request_futures[msg_id] = future
    client.protocol._send_data(
        {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
    )
    return _plain(await asyncio.wait_for(asyncio.wrap_future(future), 5))


_ids = itertools.count()


async def code_actions(
    client: QwenTestClient,
    uri: str,
    range_: dict[str, Any],
    diagnostics: list[types.Diagnostic] | None = None,
) -> list[dict[str, Any]]:
    context = {"diagnostics": [_json(d) for d in diagnostics or []]}
    params = {"textDocument": {"uri": uri}, "range": range_, "context": context}
    return list(await raw_request(client, types.TEXT_DOCUMENT_CODE_ACTION, params))


def _json(value: Any) -> Any:
    from pygls.protocol import default_converter

    return default_converter().unstructure(value)


def _range(value: dict[str, Any]) -> types.Range:
    return types.Range(types.Position(**value["start"]), types.Position(**value["end"]))


async def run(client: QwenTestClient, action: dict[str, Any]) -> Any:
    command = action["command"]
    return await client.command(command["command"], command["arguments"][0])


@pytest.mark.parametrize("preset", ["visual_studio_code", "neovim", "emacs"])
async def test_each_action_end_to_end(
    preset: str, fake: FakeOpenAI, workspace: Path
) -> None:
    write_env(workspace, env_for(fake))
    (workspace / ".qwen" / "settings.json").write_text(json.dumps(SETTINGS))
    fixed = "def total(items):\n    result = 0\n    for item in items:\n        result = result + item\n    return result"
    documented = (
        'def total(items):\n    """The sum of the items."""\n'
        + fixed.partition("\n")[2]
    )
    simpler = "def total(items):\n    return sum(items)"
    hinted = "def total(items: list[int]) -> int:\n    return sum(items)"
    fake.script(
        text_stream("It adds up the items, but returns a misspelled name."),
        fenced(fixed),
        fenced(documented),
        fenced(simpler),
        fenced(hinted),
    )

    async with lsp_session(preset, folders=[workspace]) as client:
        uri = open_document(client, workspace / "total.py", SOURCE)
        actions = await code_actions(client, uri, FUNCTION, [TYPO])
        assert [a["title"] for a in actions] == [
            "Qwen: Explain",
            "Qwen: Fix this problem",
            "Qwen: Add documentation",
            "Qwen: Simplify",
            "Qwen: Add type hints",
        ]
        assert [a.get("kind") for a in actions] == [
            None,
            "quickfix",
            *["refactor.rewrite"] * 3,
        ]
        assert all("edit" not in a and "command" in a for a in actions)
        if preset != "emacs":  # eglot 29.1 does not resolve actions
            for action in actions:
                assert (
                    await raw_request(client, types.CODE_ACTION_RESOLVE, action)
                    == action
                )

        explained = await run(client, actions[0])
        explain_prompt = last_prompt(fake)
        assert client.edits == []
        results, prompts = [], []
        for action in actions[1:]:
            results.append(await run(client, action))
            prompts.append(last_prompt(fake))
        await asyncio.sleep(0.05)

    assert explained["text"] == "It adds up the items, but returns a misspelled name."
    assert explain_prompt == (
        f"Context from {workspace / 'total.py'}, lines 3-7:\n```python\n"
        + SOURCE.partition("\n\n")[2]
        + "```\n\nExplain what this code does, step by step, and point out any problems."
    )
    assert [m.message for m in client.messages] == [explained["text"]], "shown once"

    fix_prompt = prompts[0]
    assert (
        "Selected code (lines 3-7) to rewrite:\n```python\ndef total(items):\n"
        in fix_prompt
    )
    assert (
        "- line 7: undefined name 'reslt' (error, source: pyflakes, code: F821)"
        in fix_prompt
    )
    assert "Add type hints to every function." in prompts[3]
    assert all("import os" in p for p in prompts), "the code before the selection"
    assert all(p.startswith("File: ") and "(python)" in p for p in prompts)

    encoding = encoding_of(preset)
    assert len(client.edits) == 4, "one applyEdit per edit action"
    for result, code, params in zip(
        results, [fixed, documented, simpler, hinted], client.edits, strict=True
    ):
        assert result["applied"] is True and "reason" not in result
        assert result["text"] == code + "\n"
        edits = text_edits(params.edit, uri)
        assert [e.new_text for e in edits] == [code + "\n"]
        assert apply(SOURCE, edits, encoding) == "import os\n\n" + code + "\n"
        _assert_edit_form(preset, params.edit, uri)


def _assert_edit_form(preset: str, edit: types.WorkspaceEdit, uri: str) -> None:
    if preset == "neovim":  # no documentChanges in its capabilities
        assert edit.document_changes is None and list(edit.changes or {}) == [uri]
        return
    assert edit.changes is None and edit.document_changes is not None
    (change,) = edit.document_changes
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.version == 1
    (text_edit,) = change.edits
    if preset == "visual_studio_code":  # supports change annotations: a preview
        assert isinstance(text_edit, types.AnnotatedTextEdit)
        assert edit.change_annotations is not None
        annotation = edit.change_annotations[text_edit.annotation_id]
        assert annotation.needs_confirmation is True
        assert annotation.label.startswith("Qwen: ")
    else:
        assert not isinstance(text_edit, types.AnnotatedTextEdit)
        assert edit.change_annotations is None


AWKWARD = [
    # (name, document with the selection marked «», the model's code, final document)
    ("emoji", "party = '🎉🎉'; «value = 1»; done = 2\n", "value = 2", "party = '🎉🎉'; value = 2; done = 2\n"),
    ("cjk", "greeting = '你好, «世界»'\n", "World", "greeting = '你好, World'\n"),
    ("combining", "name = 'e\u0301'; «x = 1» # ok\n", "x = 2", "name = 'e\u0301'; x = 2 # ok\n"),
    ("crlf", "def f():\r\n«    a = 1\r\n    b = 2\r\n»    return a\r\n", "a, b = 1, 2", "def f():\r\n    a, b = 1, 2\r\n    return a\r\n"),
    ("eof-without-newline", "first = 1\nlast = «'世界🎉'»", "'done 🎊'", "first = 1\nlast = 'done 🎊'"),
    ("empty-range", "if x:\n    tw«»o = 2\nthree = 3\n", "two = 22", "if x:\n    two = 22\nthree = 3\n"),
    ("empty-range-emoji-line", "a = 1\nb = '🎉'  # «»世界", "b = '🎊'", "a = 1\nb = '🎊'"),
]  # fmt: skip


def capabilities(encoding: str) -> types.ClientCapabilities:
    """A plain client: one position encoding, applyEdit, nothing else (no
    documentChanges, no code-action literals, no work-done progress)."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=[encoding]),
        workspace=types.WorkspaceClientCapabilities(apply_edit=True),
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
async def test_positions_in_every_encoding(
    encoding: str, fake: FakeOpenAI, workspace: Path
) -> None:
    write_env(workspace, env_for(fake))
    fake.script(*(fenced(code) for _, _, code, _ in AWKWARD))
    async with lsp_session(capabilities(encoding), folders=[workspace]) as client:
        results, listings = [], []
        for index, (_, document, _, _) in enumerate(AWKWARD):
            text, start, end = marked(document)
            uri = open_document(client, workspace / f"case{index}.py", text)
            selection = range_of(text, start, end, encoding)
            listings.append(await code_actions(client, uri, selection))
            results.append(
                await client.command(
                    "qwen.edit", {"uri": uri, "range": selection, "instruction": "x"}
                )
            )

    assert len(client.edits) == len(AWKWARD)
    for index, (
        (name, document, _, final),
        result,
        params,
        request,
        listing,
    ) in enumerate(
        zip(AWKWARD, results, client.edits, fake.requests, listings, strict=True)
    ):
        text, start, end = marked(document)
        uri = (workspace / f"case{index}.py").as_uri()
        assert result["applied"] is True, name
        assert apply(text, text_edits(params.edit, uri), encoding) == final, name
        prompt = request.json["messages"][-1]["content"]
        selected = text[start:end] if start != end else _line_of(text, start)
        assert f"\n{selected}" in prompt, name
        # No code-action literals in the capabilities: bare commands come back.
        assert all(set(c) == {"title", "command", "arguments"} for c in listing), name
        explain = listing[0]["arguments"][0]["range"]
        if start == end:  # an empty range stands for its line, in client units
            line_start = text.rfind("\n", 0, start) + 1
            line_end = (
                len(text) if text.find("\n", start) < 0 else text.find("\n", start)
            )
            assert explain == range_of(text, line_start, line_end, encoding), name
        else:
            assert offset_of(text, _range(explain).start, encoding) == start, name
            assert offset_of(text, _range(explain).end, encoding) == end, name


def _line_of(text: str, offset: int) -> str:
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return text[start : len(text) if end < 0 else end]


async def _wait_for_partials(
    client: QwenTestClient, token: str, count: int = 2
) -> None:
    for _ in range(500):
        if len(client.partials.get(token, [])) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the answer did not start streaming")


async def test_document_edited_during_the_edit_is_left_alone(
    preset: str, fake: FakeOpenAI, workspace: Path
) -> None:
    write_env(workspace, env_for(fake))
    fake.script(slow_tokens(30, 0.02))
    async with lsp_session(preset, folders=[workspace]) as client:
        uri = open_document(client, workspace / "total.py", SOURCE)
        token = client.partial_token()
        edit = asyncio.ensure_future(
            client.command(
                "qwen.edit",
                {
                    "uri": uri,
                    "range": FUNCTION,
                    "instruction": "Simplify",
                    "notify": True,
                    "partialResultToken": token,
                },
            )
        )
        await _wait_for_partials(client, token)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(types.Position(0, 0), types.Position(0, 0)),
                        text="# edited\n",
                    )
                ],
            )
        )
        result = await asyncio.wait_for(edit, 10)
        await asyncio.sleep(0.05)

    assert client.edits == []
    assert result["applied"] is False
    assert result["reason"] == (
        "the document changed while the model was answering (version 1, now 2); "
        "nothing was changed"
    )
    assert result["text"] == "tok " * 30 + "\n", "what would have been applied"
    assert [(m.type, m.message) for m in client.messages] == [
        (
            types.MessageType.Warning,
            "Qwen did not apply the edit: the document changed while the model was "
            "answering (version 1, now 2).",
        )
    ]


async def test_rejected_edit_is_reported_not_retried(
    fake: FakeOpenAI, workspace: Path
) -> None:
    write_env(workspace, env_for(fake))
    fake.script(fenced("def total(items):\n    return sum(items)"))
    async with lsp_session("visual_studio_code", folders=[workspace]) as client:
        client.apply_edit_result = False
        uri = open_document(client, workspace / "total.py", SOURCE)
        result = await client.command(
            "qwen.edit", {"uri": uri, "range": FUNCTION, "instruction": "Simplify"}
        )
        await asyncio.sleep(0.1)
    assert len(client.edits) == 1
    assert result == {
        "sessionId": result["sessionId"],
        "applied": False,
        "text": "def total(items):\n    return sum(items)\n",
        "reason": "the editor did not apply the edit: rejected by the test client; "
        "nothing was changed",
    }
    assert client.messages == [], "no notify: the caller shows the reason"


async def test_cancelled_edits_change_nothing(
    preset: str, fake: FakeOpenAI, workspace: Path
) -> None:
    write_env(workspace, env_for(fake))
    fake.script(slow_tokens(200, 0.02), slow_tokens(200, 0.02))
    async with lsp_session(preset, folders=[workspace]) as client:
        uri = open_document(client, workspace / "total.py", SOURCE)
        args = {
            "uri": uri,
            "range": FUNCTION,
            "instruction": "Simplify",
            "notify": True,
        }

        token = client.partial_token()
        client.progress_reports["wd-edit"] = []
        edit = asyncio.ensure_future(
            client.command(
                "qwen.edit",
                {**args, "partialResultToken": token},
                work_done_token="wd-edit",
            )
        )
        await _wait_for_partials(client, token)
        client.window_work_done_progress_cancel(
            types.WorkDoneProgressCancelParams(token="wd-edit")
        )
        by_progress = await asyncio.wait_for(edit, 5)
        assert await asyncio.to_thread(fake.wait_for_disconnect, 2.0)

        token = client.partial_token()
        request = asyncio.ensure_future(
            client.protocol.send_request_async(
                types.WORKSPACE_EXECUTE_COMMAND,
                types.ExecuteCommandParams(
                    command="qwen.edit",
                    arguments=[{**args, "partialResultToken": token}],
                ),
                msg_id=777,
            )
        )
        await _wait_for_partials(client, token)
        client.cancel_request(types.CancelParams(id=777))
        with pytest.raises(JsonRpcException) as raised:
            await asyncio.wait_for(request, 5)
        await asyncio.sleep(0.1)

    assert by_progress["applied"] is False
    assert by_progress["reason"] == "cancelled; nothing was changed"
    assert by_progress["text"].startswith("tok tok")
    assert client.progress_kinds("wd-edit")[-1] == "end"
    assert raised.value.code == -32800
    assert client.edits == []
    assert client.messages == [], "a cancel the user asked for needs no message"


async def test_B43_reasoning_never_reaches_the_edit(
    fake: FakeOpenAI, workspace: Path
) -> None:
    write_env(workspace, env_for(fake))
    fake.script(
        sse(
            [
                {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None, "reasoning_content": "Let me think."}}]},
                {"choices": [{"index": 0, "delta": {"reasoning": " ```python\nwrong()\n```"}}]},
                *content_chunks(["```python\n", "def total(items):\n    return sum(items)\n", "```"]),
            ],
            finish_reason=None,
        )
    )  # fmt: skip
    async with lsp_session("neovim", folders=[workspace]) as client:
        uri = open_document(client, workspace / "total.py", SOURCE)
        result = await client.command(
            "qwen.edit", {"uri": uri, "range": FUNCTION, "instruction": "Simplify"}
        )
    (params,) = client.edits
    (edit,) = text_edits(params.edit, uri)
    assert (
        edit.new_text == result["text"] == "def total(items):\n    return sum(items)\n"
    )
    assert "think" not in json.dumps(result) and "wrong" not in json.dumps(result)


async def test_B52_oversized_selection_is_refused_before_sending(
    fake: FakeOpenAI, workspace: Path
) -> None:
    write_env(workspace, env_for(fake))
    big = "x = 1\n" * (MAX_CONTEXT_CHARS // 6 + 10)
    lines = big.count("\n")
    whole = {
        "start": {"line": 0, "character": 0},
        "end": {"line": lines, "character": 0},
    }
    async with lsp_session("neovim", folders=[workspace]) as client:
        uri = open_document(client, workspace / "big.py", big)
        edit_error = await client.command_error(
            "qwen.edit", {"uri": uri, "range": whole, "instruction": "Simplify"}
        )
        explain = (await code_actions(client, uri, whole))[0]["command"]
        explain_error = await client.command_error(
            explain["command"], explain["arguments"][0]
        )
        alive = await client.command("qwen.status", {})
    assert edit_error.code == -32602
    assert edit_error.message == (
        f"range: the selection is too large ({len(big)} characters > "
        f"{MAX_CONTEXT_CHARS} limit); select a smaller range"
    )
    assert explain_error.code == -32602 and "too large" in explain_error.message
    assert fake.requests == [], "nothing was sent"
    assert alive["workspaceFolder"] == workspace.as_uri()


async def test_B62_malformed_code_action_requests_get_answers(workspace: Path) -> None:
    line = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}
    async with lsp_session("neovim", folders=[workspace]) as client:
        uri = open_document(client, workspace / "a.py", "x = 1\n")
        null_line = {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": None, "character": 0}, "end": line["end"]},
            "context": {"diagnostics": []},
        }
        errors = {}
        for name, params in {
            "null-line": null_line,
            "diagnostic-null-line": {
                **null_line,
                "range": line,
                "context": {
                    "diagnostics": [{"range": null_line["range"], "message": "m"}]
                },
            },
        }.items():
            with pytest.raises(JsonRpcException) as raised:
                await raw_request(client, types.TEXT_DOCUMENT_CODE_ACTION, params, name)
            errors[name] = raised.value
        never_opened = await raw_request(
            client,
            types.TEXT_DOCUMENT_CODE_ACTION,
            {
                "textDocument": {"uri": (workspace / "nope.py").as_uri()},
                "range": line,
                "context": {"diagnostics": []},
            },
        )
        valid = await code_actions(client, uri, line)

    assert {name: e.code for name, e in errors.items()} == dict.fromkeys(errors, -32602)
    assert errors["null-line"].message == (
        "invalid params for textDocument/codeAction: invalid value for type, "
        "expected int @ $.params.range.start.line"
    )
    assert errors["diagnostic-null-line"].message.endswith(
        "@ $.params.context.diagnostics[0].range.start.line"
    )
    assert never_opened == []
    assert valid[0]["title"] == "Qwen: Explain"


async def test_file_not_open_is_edited_only_if_unchanged_on_disk(
    fake: FakeOpenAI, workspace: Path
) -> None:
    write_env(workspace, env_for(fake))
    path = workspace / "total.py"
    path.write_bytes(SOURCE.replace("\n", "\r\n").encode())
    fake.script(
        fenced("def total(items):\n    return sum(items)"), slow_tokens(20, 0.02)
    )
    async with lsp_session("emacs", folders=[workspace]) as client:
        args = {"uri": path.as_uri(), "range": FUNCTION, "instruction": "Simplify"}
        applied = await client.command("qwen.edit", args)

        token = client.partial_token()
        edit = asyncio.ensure_future(
            client.command("qwen.edit", {**args, "partialResultToken": token})
        )
        await _wait_for_partials(client, token)
        path.write_text("changed on disk\n")
        changed = await asyncio.wait_for(edit, 10)

    assert applied["applied"] is True
    (params,) = client.edits
    (change,) = params.edit.document_changes or []
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.version is None
    crlf = SOURCE.replace("\n", "\r\n")
    assert apply(crlf, list(change.edits), "utf-32") == (  # type: ignore[arg-type]
        "import os\r\n\r\ndef total(items):\r\n    return sum(items)\r\n"
    )
    assert changed["applied"] is False
    assert changed["reason"] == (
        "the file changed on disk while the model was answering; nothing was changed"
    )


async def test_edit_after_changes_to_a_document_with_a_form_feed(
    fake: FakeOpenAI, workspace: Path
) -> None:
    """The server's copy follows the editor's even where str.splitlines would
    break lines differently (form feed), so the edit lands on the right line."""
    write_env(workspace, env_for(fake))
    fake.script(fenced("b = 30"))
    text = "a = 1  # \x0c page 2\nb = 2\nc = 3\n"
    async with lsp_session("neovim", folders=[workspace]) as client:
        uri = open_document(client, workspace / "paged.py", text)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(types.Position(1, 4), types.Position(1, 5)),
                        text="3",
                    )
                ],
            )
        )
        line = {
            "start": {"line": 1, "character": 0},
            "end": {"line": 1, "character": 5},
        }
        result = await client.command(
            "qwen.edit", {"uri": uri, "range": line, "instruction": "x"}
        )
    edited = "a = 1  # \x0c page 2\nb = 3\nc = 3\n"
    assert result["applied"] is True
    prompt = last_prompt(fake)
    assert "```python\na = 1  # \x0c page 2\n```" in prompt
    assert "Selected code (line 2) to rewrite:\n```python\nb = 3\n```" in prompt
    (params,) = client.edits
    assert apply(edited, text_edits(params.edit, uri), "utf-8") == (
        "a = 1  # \x0c page 2\nb = 30\nc = 3\n"
    )
