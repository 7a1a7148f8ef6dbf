"""qwen.chat and qwen.status end to end: a real server over stdio, a real HTTP endpoint
on 127.0.0.1, for each client capability preset."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.harness import lsp_session, write_env
from tests.fakes.openai_server import (
    FakeOpenAI,
    content_chunks,
    sse,
    status,
    text_stream,
)

REQUEST_FAILED = -32803


def env_for(fake: FakeOpenAI, key: str = "sk-test-0000", extra: str = "") -> str:
    return f"OPENAI_API_KEY={key}\nOPENAI_BASE_URL={fake.base_url}\n{extra}"


async def test_streamed_deltas_equal_the_final_text(
    preset: str, fake: FakeOpenAI, workspace: Path
) -> None:
    pieces = ["Hel", "lo, ", "wör", "ld 🌍", "\nsecond line"]
    fake.script(text_stream("".join(pieces), pieces=pieces))
    write_env(workspace, env_for(fake))

    async with lsp_session(preset, folders=[workspace]) as client:
        token = client.partial_token()
        result = await client.command(
            "qwen.chat", {"prompt": "Say hello", "partialResultToken": token}
        )

    assert result["text"] == "".join(pieces)
    assert client.text_of(token) == result["text"]
    assert {v["sessionId"] for v in client.partials[token]} == {result["sessionId"]}
    assert result["finishReason"] == "stop"
    assert result["model"] == "qwen3-coder-plus"
    assert result["usage"]["totalTokens"] > 0

    body = fake.requests[-1].json
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][-1] == {"role": "user", "content": "Say hello"}
    assert fake.requests[-1].path == "/v1/chat/completions"
    assert fake.requests[-1].header("authorization") == "Bearer sk-test-0000"

    tokens = [t for t in client.progress_reports if t != token]
    assert len(tokens) == 1, "one work-done progress per chat"
    kinds = client.progress_kinds(tokens[0])
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert kinds.count("begin") == 1 and kinds.count("end") == 1
    begin = client.progress_reports[tokens[0]][0]
    assert begin.title == "Qwen" and begin.cancellable is True


async def test_client_work_done_token_is_used(
    fake: FakeOpenAI, workspace: Path
) -> None:
    fake.script(text_stream("ok"))
    write_env(workspace, env_for(fake))
    async with lsp_session("visual_studio_code", folders=[workspace]) as client:
        assert client.init_result is not None
        provider = client.init_result.capabilities.execute_command_provider
        assert provider is not None and provider.work_done_progress is True
        client.progress_reports["wd-1"] = []
        await client.command("qwen.chat", {"prompt": "hi"}, work_done_token="wd-1")
    assert client.progress_kinds("wd-1")[0] == "begin"
    assert client.progress_kinds("wd-1")[-1] == "end"
    assert list(client.progress_reports) == ["wd-1"], "no token of its own"


async def test_multi_turn_session_sends_history(
    preset: str, fake: FakeOpenAI, workspace: Path
) -> None:
    fake.script(text_stream("First answer"), text_stream("Second answer"))
    write_env(workspace, env_for(fake))
    async with lsp_session(preset, folders=[workspace]) as client:
        first = await client.command("qwen.chat", {"prompt": "one"})
        second = await client.command(
            "qwen.chat", {"prompt": "two", "sessionId": first["sessionId"]}
        )
        unknown = await client.command_error(
            "qwen.chat", {"prompt": "x", "sessionId": "nope"}
        )
    assert second["sessionId"] == first["sessionId"]
    messages = fake.requests[-1].json["messages"]
    assert [m["role"] for m in messages] == [
        "system", "user", "assistant", "user",
    ]  # fmt: skip
    assert messages[2]["content"] == "First answer"
    assert unknown.code == -32602 and "sessionId" in unknown.message


async def test_context_from_open_buffer_and_range(
    preset: str, fake: FakeOpenAI, workspace: Path
) -> None:
    fake.script(text_stream("ok"), text_stream("ok"))
    write_env(workspace, env_for(fake))
    source = workspace / "app.py"
    source.write_text("def a():\n    return 1\n", encoding="utf-8")
    uri = source.as_uri()
    async with lsp_session(preset, folders=[workspace]) as client:
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=source.read_text()
                )
            )
        )
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(types.Position(1, 11), types.Position(1, 12)),
                        text="42",
                    )
                ],
            )
        )
        await client.command(
            "qwen.chat",
            {
                "prompt": "explain",
                "uri": uri,
                "range": {
                    "start": {"line": 1, "character": 0},
                    "end": {"line": 1, "character": 13},
                },
            },
        )
        unopened = workspace / "other.py"
        unopened.write_text("print('from disk')\n", encoding="utf-8")
        await client.command(
            "qwen.chat", {"prompt": "and this", "uri": unopened.as_uri()}
        )

    with_range = fake.requests[0].json["messages"][-1]["content"]
    assert "    return 42" in with_range and "def a" not in with_range
    assert "```python" in with_range and with_range.endswith("explain")
    from_disk = fake.requests[1].json["messages"][-1]["content"]
    assert "print('from disk')" in from_disk


async def test_two_folders_use_their_own_keys(
    preset: str, fake: FakeOpenAI, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    nested = b / "sub"
    for folder, key in (
        (a, "sk-test-000A"),
        (b, "sk-test-000B"),
        (nested, "sk-test-00NB"),
    ):
        folder.mkdir(parents=True)
        write_env(folder, env_for(fake, key))
    async with lsp_session(preset, folders=[a, b, nested]) as client:
        await client.command("qwen.chat", {"prompt": "1", "uri": (a / "x.py").as_uri()})
        await client.command("qwen.chat", {"prompt": "2", "uri": (b / "y.py").as_uri()})
        await client.command(
            "qwen.chat", {"prompt": "3", "uri": (nested / "z.py").as_uri()}
        )
        await client.command("qwen.chat", {"prompt": "4"})
    keys = [r.header("authorization") for r in fake.requests]
    assert keys == [
        "Bearer sk-test-000A",
        "Bearer sk-test-000B",
        "Bearer sk-test-00NB",
        "Bearer sk-test-000A",  # no uri: the first folder
    ]


async def test_B60_folders_added_and_removed_at_runtime(
    fake: FakeOpenAI, tmp_path: Path, home: Path
) -> None:
    """B60: a folder added later uses its own key; a removed one falls back to home."""
    helper, a, b = tmp_path / "helper", tmp_path / "a", tmp_path / "b"
    for folder in (helper, a, b):
        folder.mkdir()
    write_env(a, env_for(fake, "sk-test-000A"))
    write_env(b, env_for(fake, "sk-test-000B"))
    write_env(home, env_for(fake, "sk-test-HOME"))
    async with lsp_session("neovim", folders=[helper, a]) as client:
        client.workspace_did_change_workspace_folders(
            types.DidChangeWorkspaceFoldersParams(
                event=types.WorkspaceFoldersChangeEvent(
                    added=[types.WorkspaceFolder(uri=b.as_uri(), name="b")],
                    removed=[types.WorkspaceFolder(uri=a.as_uri(), name="a")],
                )
            )
        )
        await client.command("qwen.chat", {"prompt": "1", "uri": (b / "x.py").as_uri()})
        await client.command("qwen.chat", {"prompt": "2", "uri": (a / "y.py").as_uri()})
    keys = [r.header("authorization") for r in fake.requests]
    assert keys == ["Bearer sk-test-000B", "Bearer sk-test-HOME"]


async def test_env_file_edited_between_chats_takes_effect(
    preset: str, fake: FakeOpenAI, workspace: Path
) -> None:
    env_file = write_env(workspace, env_for(fake, "sk-test-0001"))
    async with lsp_session(preset, folders=[workspace]) as client:
        await client.command("qwen.chat", {"prompt": "1"})
        env_file.write_text(env_for(fake, "sk-test-0002", "OPENAI_MODEL=other-model\n"))
        second = await client.command("qwen.chat", {"prompt": "2"})
    assert [r.header("authorization") for r in fake.requests] == [
        "Bearer sk-test-0001",
        "Bearer sk-test-0002",
    ]
    assert second["model"] == "other-model"
    assert fake.requests[-1].json["model"] == "other-model"


async def test_status_reports_sources_and_masks_the_key(
    preset: str, fake: FakeOpenAI, workspace: Path
) -> None:
    env_file = write_env(workspace, env_for(fake, "sk-test-SECRET0000"))
    async with lsp_session(preset, folders=[workspace]) as client:
        result = await client.command("qwen.status", {})
        await asyncio.sleep(0.1)
    assert result["workspaceFolder"] == workspace.as_uri()
    assert result["envFile"] == str(env_file)
    assert result["authType"] == "openai"
    assert result["baseUrl"] == fake.base_url
    assert result["signedIn"] is True
    assert "SECRET" not in str(result) and result["apiKey"].endswith("0000")
    assert str(env_file) in result["sources"]["apiKey"]
    assert result["problems"] == []
    assert client.statuses and client.statuses[0]["signedIn"] is True
    assert "SECRET" not in str(client.statuses)


async def test_status_changes_are_notified(fake: FakeOpenAI, workspace: Path) -> None:
    async with lsp_session("neovim", folders=[workspace]) as client:
        await asyncio.sleep(0.2)
        assert client.statuses[-1]["signedIn"] is False
        assert client.statuses[-1]["problems"]
        write_env(workspace, env_for(fake))
        await client.command("qwen.status", {})
        assert client.statuses[-1]["signedIn"] is True
        count = len(client.statuses)
        await client.command("qwen.status", {})
    assert len(client.statuses) == count, "sent only when something changed"


async def test_no_endpoint_configured_says_what_to_set(
    preset: str, workspace: Path
) -> None:
    async with lsp_session(preset, folders=[workspace]) as client:
        error = await client.command_error("qwen.chat", {"prompt": "hi"})
    assert error.code == REQUEST_FAILED
    assert error.data["kind"] == "config"
    assert str(workspace) in error.message
    assert "OPENAI_API_KEY" in error.message


@pytest.mark.parametrize(
    ("response", "kind", "status_code", "words"),
    [
        pytest.param(status(401, {"error": {"message": "bad key"}}), "auth", 401, "bad key", id="401"),
        pytest.param(status(403, {"error": {"message": "forbidden"}}), "auth", 403, "forbidden", id="403"),
        pytest.param(status(404, b""), "server", 404, "/chat/completions", id="404"),
        pytest.param(status(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "120"}), "rateLimit", 429, "", id="429"),
        pytest.param(status(400, {"error": {"message": "context too long"}}), "server", 400, "context too long", id="400"),
        pytest.param(sse([{"error": {"message": "the context window is full", "code": "context_length_exceeded"}}], done=False), "server", None, "context window is full", id="error-in-stream"),
        pytest.param(sse([*content_chunks(["Par"], finish_reason=None), b'event: error\ndata: {"error": {"message": "Overloaded"}}\n\n'], done=False), "server", None, "Overloaded", id="error-mid-stream"),
        pytest.param(sse([{"choices": [{"index": 0, "delta": {"content": "Par"}}]}], done=False, finish_reason=None), "badResponse", None, "", id="truncated"),
    ],
)  # fmt: skip
async def test_failures_give_their_kind_and_the_next_chat_works(
    fake: FakeOpenAI,
    workspace: Path,
    response: object,
    kind: str,
    status_code: int | None,
    words: str,
) -> None:
    fake.script(response, text_stream("recovered"))  # type: ignore[arg-type]
    write_env(workspace, env_for(fake))
    async with lsp_session("neovim", folders=[workspace]) as client:
        error = await client.command_error("qwen.chat", {"prompt": "hi"})
        after = await client.command("qwen.chat", {"prompt": "again"})
        tokens = list(client.progress_reports)
    assert error.code == REQUEST_FAILED
    assert error.data["kind"] == kind
    assert error.data.get("status") == status_code
    assert words in error.message
    assert "sk-test" not in error.message
    if kind == "rateLimit":
        assert error.data["retryAfter"] == 120
    assert after["text"] == "recovered"
    for token in tokens:
        kinds = client.progress_kinds(token)
        assert kinds.count("begin") == 1 and kinds[-1] == "end"


async def test_dead_endpoint_is_a_network_error(workspace: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    write_env(workspace, f"OPENAI_BASE_URL=http://127.0.0.1:{port}/v1\n")
    async with lsp_session("neovim", folders=[workspace]) as client:
        error = await client.command_error("qwen.chat", {"prompt": "hi"})
    assert error.data["kind"] == "network"
    assert f"127.0.0.1:{port}" in error.message


async def test_idle_stream_times_out(fake: FakeOpenAI, workspace: Path) -> None:
    from tests.fakes.openai_server import hang

    fake.script(hang(10))
    write_env(workspace, env_for(fake))
    async with lsp_session(
        "neovim", folders=[workspace], init_options={"qwen": {"idleTimeout": 0.5}}
    ) as client:
        error = await client.command_error("qwen.chat", {"prompt": "hi"})
    assert error.data["kind"] == "network"


async def test_progress_cancel_returns_partial_and_closes_upstream(
    preset: str, fake: FakeOpenAI, workspace: Path
) -> None:
    from tests.fakes.openai_server import slow_tokens

    fake.script(slow_tokens(200, 0.05))
    write_env(workspace, env_for(fake))
    async with lsp_session(preset, folders=[workspace]) as client:
        token = client.partial_token()
        chat = asyncio.ensure_future(
            client.command("qwen.chat", {"prompt": "long", "partialResultToken": token})
        )
        while len(client.partials.get(token, [])) < 3:
            await asyncio.sleep(0.02)
        work_token = next(t for t in client.progress_reports if t != token)
        client.window_work_done_progress_cancel(
            types.WorkDoneProgressCancelParams(token=work_token)
        )
        result = await asyncio.wait_for(chat, 5)
        assert await asyncio.to_thread(fake.wait_for_disconnect, 2.0)
    assert result["finishReason"] == "cancelled"
    assert result["text"] and result["text"] == client.text_of(token)
    assert client.progress_kinds(work_token)[-1] == "end"


async def test_B56_cancel_request_closes_upstream(
    preset: str, fake: FakeOpenAI, workspace: Path
) -> None:
    from tests.fakes.openai_server import slow_tokens

    fake.script(slow_tokens(200, 0.05), text_stream("next"))
    write_env(workspace, env_for(fake))
    async with lsp_session(preset, folders=[workspace]) as client:
        token = client.partial_token()
        chat = asyncio.ensure_future(
            client.protocol.send_request_async(
                types.WORKSPACE_EXECUTE_COMMAND,
                types.ExecuteCommandParams(
                    command="qwen.chat",
                    arguments=[{"prompt": "long", "partialResultToken": token}],
                ),
                msg_id=4242,
            )
        )
        while len(client.partials.get(token, [])) < 3:
            await asyncio.sleep(0.02)
        client.cancel_request(types.CancelParams(id=4242))
        with pytest.raises(JsonRpcException) as raised:
            await asyncio.wait_for(chat, 5)
        assert await asyncio.to_thread(fake.wait_for_disconnect, 2.0)
        after = await client.command("qwen.chat", {"prompt": "next"})
        for work_token in (t for t in client.progress_reports if t != token):
            assert client.progress_kinds(work_token)[-1] == "end"
    assert raised.value.code == -32800
    assert after["text"] == "next"


@pytest.mark.parametrize("cut", range(1, 200, 7))
async def test_stream_cut_anywhere_gives_the_same_text(
    fake: FakeOpenAI, workspace: Path, cut: int
) -> None:
    text = "Grüße, 世界! 🎉 done"
    fake.script(text_stream(text, pieces=list(text), split_at=[cut]))
    write_env(workspace, env_for(fake))
    async with lsp_session("neovim", folders=[workspace]) as client:
        token = client.partial_token()
        result = await client.command(
            "qwen.chat", {"prompt": "x", "partialResultToken": token}
        )
    assert result["text"] == text == client.text_of(token)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        pytest.param({}, "prompt", id="missing"),
        pytest.param({"prompt": 5}, "prompt", id="wrong-type"),
        pytest.param({"prompt": "x", "bogus": 1}, "bogus", id="extra"),
        pytest.param({"prompt": "x" * 100_001}, "prompt", id="huge"),
        pytest.param({"prompt": "x", "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}}, "range", id="range-without-uri"),
    ],
)  # fmt: skip
async def test_bad_arguments_name_the_field(
    workspace: Path, arguments: dict[str, object], field: str
) -> None:
    async with lsp_session("neovim", folders=[workspace]) as client:
        error = await client.command_error("qwen.chat", arguments)
        not_object = await client.command_error("qwen.chat", None)
        alive = await client.command("qwen.status", {})
    assert error.code == -32602 and field in error.message
    assert not_object.code == -32602
    assert alive["workspaceFolder"] == workspace.as_uri()


async def test_refused_key_names_workspace_and_key_source(
    fake: FakeOpenAI, workspace: Path
) -> None:
    fake.script(status(401, {"error": {"message": "Incorrect API key"}}))
    env_file = write_env(workspace, env_for(fake, "sk-test-WRONG0000"))
    async with lsp_session("neovim", folders=[workspace]) as client:
        error = await client.command_error("qwen.chat", {"prompt": "hi"})
    assert error.data["kind"] == "auth"
    assert str(workspace) in error.message and str(env_file) in error.message
    assert "Incorrect API key" in error.message and "WRONG" not in error.message
